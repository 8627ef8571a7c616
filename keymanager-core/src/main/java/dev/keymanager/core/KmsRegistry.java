package dev.keymanager.core;

import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.ServiceConfigurationError;
import java.util.ServiceLoader;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The KMS providers a key manager may use, one per URI scheme, and the unwrappers and wrappers it
 * has opened through them.
 *
 * <p>Explicit providers win over discovered ones for their scheme. Two discovered providers for one
 * scheme, with no explicit one, fail the build naming both (fail closed: picking either would be a
 * guess about which vendor client holds the customer's key). Discovered providers outside the
 * allowed schemes are closed and ignored.
 *
 * <p>Development providers ({@code local-kms} in core, the test kit's {@code fake-kms}) are never
 * taken from discovery unless the builder opted in: their keys are a file on the local disk, or
 * derivable from the CMK's name, so a test jar that slips onto a production class path must not
 * turn a {@code fake-kms://} URI in a configuration into keys an attacker can compute.
 */
final class KmsRegistry implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(KmsRegistry.class);

  /** Schemes of providers whose keys are not protected by a KMS: discovered only on opt-in. */
  static final Set<String> DEVELOPMENT_SCHEMES = Set.of("local-kms", "fake-kms");

  private final Map<String, KmsProvider> byScheme; // sorted for messages
  private final List<KmsProvider> owned; // discovered, so ours to close
  private final Set<String> ignoredDevelopment; // discovered but refused: named in messages
  private final Map<URI, KmsUnwrapper> unwrappers = new ConcurrentHashMap<>();
  private final Map<URI, Optional<KmsWrapper>> wrappers = new ConcurrentHashMap<>();

  private KmsRegistry(
      Map<String, KmsProvider> byScheme, List<KmsProvider> owned, Set<String> ignoredDevelopment) {
    this.byScheme = byScheme;
    this.owned = owned;
    this.ignoredDevelopment = ignoredDevelopment;
  }

  /**
   * Builds the registry.
   *
   * @param explicit providers passed to the builder: the caller owns and closes them
   * @param discovered providers found by {@link ServiceLoader}: closed with the registry
   * @param allowedSchemes the schemes that may be used, or empty for all
   * @param allowDevelopment whether discovered development providers ({@link #DEVELOPMENT_SCHEMES})
   *     may be used; explicit ones always may
   * @throws KeyManagerConfigException if two explicit, or two discovered, providers claim one
   *     scheme, or an allowed scheme has no provider
   */
  static KmsRegistry of(
      Collection<KmsProvider> explicit,
      Iterable<KmsProvider> discovered,
      Set<String> allowedSchemes,
      boolean allowDevelopment) {
    Map<String, KmsProvider> byScheme = new TreeMap<>();
    for (KmsProvider p : explicit) {
      String scheme = schemeOf(p);
      KmsProvider other = byScheme.putIfAbsent(scheme, p);
      if (other != null) {
        throw duplicate(scheme, other, p);
      }
    }
    Map<String, KmsProvider> found = new TreeMap<>();
    // Every scheme a provider was found for, allowed or not, for the error that names them.
    Set<String> seen = new TreeSet<>(byScheme.keySet());
    List<KmsProvider> owned = new ArrayList<>();
    Set<String> ignoredDevelopment = new TreeSet<>();
    try {
      for (KmsProvider p : discovered) {
        String scheme = schemeOf(p);
        seen.add(scheme);
        if (byScheme.containsKey(scheme)
            || (!allowedSchemes.isEmpty() && !allowedSchemes.contains(scheme))) {
          p.close();
          continue;
        }
        if (!allowDevelopment && DEVELOPMENT_SCHEMES.contains(scheme)) {
          log.debug("Ignoring discovered development KMS provider {} ({})", scheme, p.getClass());
          ignoredDevelopment.add(scheme);
          p.close();
          continue;
        }
        owned.add(p);
        KmsProvider other = found.putIfAbsent(scheme, p);
        if (other != null) {
          throw duplicate(scheme, other, p);
        }
      }
    } catch (ServiceConfigurationError e) {
      owned.forEach(KmsProvider::close);
      throw new KeyManagerConfigException(
          "A KMS provider on the class path could not be loaded: " + e.getMessage(), e);
    } catch (KeyManagerConfigException e) {
      owned.forEach(KmsProvider::close);
      throw e;
    }
    byScheme.putAll(found);
    if (!allowedSchemes.isEmpty()) {
      byScheme.keySet().retainAll(allowedSchemes);
      for (String scheme : allowedSchemes) {
        if (!byScheme.containsKey(scheme)) {
          owned.forEach(KmsProvider::close);
          throw new KeyManagerConfigException(
              "Scheme '"
                  + scheme
                  + "' is allowed but no KMS provider handles it; "
                  + (seen.isEmpty()
                      ? "no KMS providers were found"
                      : "providers were found for schemes " + seen)
                  + " (allowed: "
                  + allowedSchemes
                  + ")"
                  + (DEVELOPMENT_SCHEMES.contains(scheme) ? ". " + optIn(scheme) : ""));
        }
      }
    }
    log.debug("KMS providers: {}", byScheme.keySet());
    return new KmsRegistry(byScheme, owned, Set.copyOf(ignoredDevelopment));
  }

  /** How to use development provider {@code scheme}, for messages. */
  private static String optIn(String scheme) {
    return "'"
        + scheme
        + "' is a development KMS whose keys are not protected by a KMS, so discovery does not"
        + " pick it up: call KeyManagers.builder().allowDevelopmentKms() in development and"
        + " tests, or pass the provider with kmsProvider(...)";
  }

  /** The discovered providers of {@code loader}'s class path and module layer. */
  static Iterable<KmsProvider> discover(ClassLoader loader) {
    return ServiceLoader.load(KmsProvider.class, loader);
  }

  Set<String> schemes() {
    return byScheme.keySet();
  }

  /** The unwrapper for {@code cmkUri}, opened once and reused. */
  KmsUnwrapper unwrapper(URI cmkUri) {
    return unwrappers.computeIfAbsent(cmkUri, uri -> provider(uri).unwrapper(uri));
  }

  /** The wrapper for {@code cmkUri}, or empty if its provider only unwraps. */
  Optional<KmsWrapper> wrapper(URI cmkUri) {
    return wrappers.computeIfAbsent(cmkUri, uri -> provider(uri).wrapper(uri));
  }

  private KmsProvider provider(URI cmkUri) {
    String scheme = cmkUri.getScheme();
    if (scheme == null) {
      throw new KeyManagerConfigException(
          "CMK URI '" + cmkUri + "' has no scheme; expected SCHEME://..., " + available(byScheme));
    }
    KmsProvider p = byScheme.get(scheme.toLowerCase(Locale.ROOT));
    if (p == null) {
      throw new KeyManagerConfigException(
          "No KMS provider for scheme '"
              + scheme
              + "' of CMK URI '"
              + cmkUri
              + "'; "
              + available(byScheme)
              + (ignoredDevelopment.contains(scheme.toLowerCase(Locale.ROOT))
                  ? ". A provider for it is on the class path but was ignored: "
                      + optIn(scheme.toLowerCase(Locale.ROOT))
                  : ". Add the KMS module for it to the class path or pass a provider to the"
                      + " builder."));
    }
    return p;
  }

  @Override
  public void close() {
    for (KmsProvider p : owned) {
      try {
        p.close();
      } catch (RuntimeException e) {
        log.warn("Closing KMS provider for scheme {} failed", p.scheme(), e);
      }
    }
  }

  private static String schemeOf(KmsProvider p) {
    String scheme = p.scheme();
    if (scheme == null || scheme.isEmpty() || !scheme.equals(scheme.toLowerCase(Locale.ROOT))) {
      throw new KeyManagerConfigException(
          "KMS provider " + p.getClass().getName() + " has an invalid scheme: '" + scheme + "'");
    }
    return scheme;
  }

  private static KeyManagerConfigException duplicate(String scheme, KmsProvider a, KmsProvider b) {
    return new KeyManagerConfigException(
        "Two KMS providers claim scheme '"
            + scheme
            + "': "
            + a.getClass().getName()
            + " and "
            + b.getClass().getName()
            + ". Remove one from the class path, or pass the one to use to the builder.");
  }

  private static String available(Map<String, KmsProvider> byScheme) {
    return byScheme.isEmpty()
        ? "no KMS providers were found"
        : "providers found for schemes " + byScheme.keySet();
  }
}
