package dev.keymanager.cli;

import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KmsProvider;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeSet;

/**
 * One command's connection to keys: the store, the KMS providers and a key manager over them.
 *
 * <p>Providers are discovered here once, with {@link ServiceLoader}, and handed to the key manager
 * explicitly, so the tool decides which schemes it accepts: the development schemes only with
 * {@code --allow-development-kms} (or when a test passes a provider in). Closing the session closes
 * the key manager, the store and the discovered providers.
 */
final class Session implements AutoCloseable {
  static final Set<String> DEVELOPMENT_SCHEMES = Set.of("local-kms", "fake-kms");

  private final KekStore store;
  private final Map<String, KmsProvider> providers;
  private final List<KmsProvider> owned;
  private final KeyManager keys;
  private final Settings settings;
  private final Set<String> refusedSchemes;

  /** The cache settings this session's key manager runs with, as {@code doctor} reports them. */
  record Settings(Duration hardTtl, Duration loadTimeout) {}

  private Session(
      KekStore store,
      Map<String, KmsProvider> providers,
      List<KmsProvider> owned,
      KeyManager keys,
      Settings settings,
      Set<String> refusedSchemes) {
    this.store = store;
    this.providers = providers;
    this.owned = owned;
    this.keys = keys;
    this.settings = settings;
    this.refusedSchemes = refusedSchemes;
  }

  static Session open(CliEnv env, Config config) {
    String storeUri = config.store();
    Discovered d = discover(env, config.allowDevelopmentKms());
    KekStore store = null;
    try {
      store = StoreUris.open(storeUri, config);
      Duration hardTtl = config.duration("cache.hard-ttl").orElse(KeyManagers.DEFAULT_HARD_TTL);
      Duration loadTimeout =
          config.duration("cache.load-timeout").orElse(KeyManagers.DEFAULT_LOAD_TIMEOUT);
      KeyManagers.Builder b =
          KeyManagers.builder()
              .kekStore(store)
              .discoverProviders(false)
              .hardTtl(hardTtl)
              .loadTimeout(loadTimeout)
              .kmsThreads(2);
      d.providers.values().forEach(b::kmsProvider);
      if (config.allowDevelopmentKms()) {
        b.allowDevelopmentKms();
      }
      KeyManager keys = b.build();
      return new Session(
          store, d.providers, d.owned, keys, new Settings(hardTtl, loadTimeout), d.refused);
    } catch (RuntimeException e) {
      if (store != null) {
        store.close();
      }
      closeAll(d.owned);
      throw e;
    }
  }

  /** Opens only a store, for commands that need no KMS ({@code store copy}). */
  static KekStore openStore(String uri, Config config) {
    return StoreUris.open(uri, config);
  }

  private record Discovered(
      Map<String, KmsProvider> providers, List<KmsProvider> owned, Set<String> refused) {}

  private static Discovered discover(CliEnv env, boolean allowDevelopment) {
    Map<String, KmsProvider> chosen = new LinkedHashMap<>();
    for (KmsProvider p : env.providers()) {
      chosen.put(p.scheme().toLowerCase(Locale.ROOT), p); // explicit: the caller owns it
    }
    List<KmsProvider> owned = new ArrayList<>();
    Set<String> refused = new TreeSet<>();
    Map<String, String> discoveredBy = new LinkedHashMap<>();
    try {
      for (KmsProvider p : ServiceLoader.load(KmsProvider.class, env.classLoader())) {
        owned.add(p);
        String scheme = p.scheme().toLowerCase(Locale.ROOT);
        if (chosen.containsKey(scheme) && !discoveredBy.containsKey(scheme)) {
          continue; // an explicit provider beats discovery
        }
        if (!allowDevelopment && DEVELOPMENT_SCHEMES.contains(scheme)) {
          refused.add(scheme);
          continue;
        }
        String other = discoveredBy.putIfAbsent(scheme, p.getClass().getName());
        if (other != null) {
          throw new KeyManagerConfigException(
              "two KMS providers claim the scheme "
                  + scheme
                  + ": "
                  + other
                  + " and "
                  + p.getClass().getName());
        }
        chosen.put(scheme, p);
      }
    } catch (java.util.ServiceConfigurationError e) {
      closeAll(owned);
      throw new KeyManagerConfigException("a KMS provider cannot be loaded: " + e.getMessage());
    } catch (RuntimeException e) {
      closeAll(owned);
      throw e;
    }
    return new Discovered(chosen, owned, refused);
  }

  /**
   * Fails with a configuration error if {@code cmkUri} names a development KMS the session refused,
   * saying which flag accepts it.
   */
  URI checkCmk(URI cmkUri) {
    String scheme = cmkUri.getScheme() == null ? "" : cmkUri.getScheme().toLowerCase(Locale.ROOT);
    if (refusedSchemes.contains(scheme)) {
      throw CliException.config(
          scheme
              + ":// is a development KMS, refused by default: pass --allow-development-kms to"
              + " use it outside production");
    }
    return cmkUri;
  }

  KeyManager keys() {
    return keys;
  }

  KekStore store() {
    return store;
  }

  Settings settings() {
    return settings;
  }

  Optional<KmsProvider> provider(URI cmkUri) {
    checkCmk(cmkUri);
    String scheme = cmkUri.getScheme() == null ? "" : cmkUri.getScheme().toLowerCase(Locale.ROOT);
    return Optional.ofNullable(providers.get(scheme));
  }

  Set<String> schemes() {
    return new TreeSet<>(providers.keySet());
  }

  @Override
  public void close() {
    try {
      keys.close();
    } finally {
      try {
        store.close();
      } finally {
        closeAll(owned);
      }
    }
  }

  private static void closeAll(List<KmsProvider> list) {
    for (KmsProvider p : list) {
      try {
        p.close();
      } catch (RuntimeException ignored) {
        // Closing is best effort: a provider that fails to close holds nothing we can free.
      }
    }
  }
}
