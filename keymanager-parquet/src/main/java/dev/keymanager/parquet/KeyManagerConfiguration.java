package dev.keymanager.parquet;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KeyManager;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.hadoop.conf.Configuration;

/**
 * Builds a {@link KeyManager} from Hadoop configuration properties, for jobs that cannot run code
 * before Parquet does (a Spark job configured only with {@code spark.hadoop.*} properties). {@link
 * KeyManagerKmsClient#initialize} uses it when no key manager is {@linkplain KeyManagerRegistry
 * registered} under the KMS instance id and {@value #STORE_FILE_DIR} is set: it builds one,
 * registers it under that id for the life of the process, and closes it (and its store) at JVM
 * shutdown.
 *
 * <table class="striped">
 *   <caption>Properties</caption>
 *   <tr><th>property</th><th>meaning</th><th>default</th></tr>
 *   <tr><td>{@value #STORE_FILE_DIR}</td><td>directory of the file KEK store
 *       ({@code KekStores.file}); required</td><td>none</td></tr>
 *   <tr><td>{@value #ALLOWED_SCHEMES}</td><td>comma-separated KMS URI schemes the key manager may
 *       use ({@code KeyManagers.Builder.allowedSchemes}), e.g. {@code aws-kms}</td><td>every
 *       discovered provider</td></tr>
 *   <tr><td>{@value #HARD_TTL}</td><td>the revocation bound, a Hadoop time duration such as {@code
 *       5m} or {@code 90s} (plain numbers are seconds)</td><td>the builder's, 5 min</td></tr>
 *   <tr><td>{@value #REFRESH_AHEAD}</td><td>refresh-ahead window, a time duration</td>
 *       <td>the builder's, a fifth of the hard TTL</td></tr>
 *   <tr><td>{@value #NEGATIVE_TTL}</td><td>how long a KMS denial is remembered, a time
 *       duration</td><td>the builder's</td></tr>
 *   <tr><td>{@value #ALLOW_DEVELOPMENT_KMS}</td><td>{@code true} to let discovery use the
 *       development providers ({@code local-kms}, {@code fake-kms}); never in production</td>
 *       <td>{@code false}</td></tr>
 * </table>
 *
 * KMS providers are found by discovery, as with {@code KeyManagers.builder()}: put the module of
 * your KMS (e.g. {@code keymanager-kms-aws}) on the job's class path. With Spark, prefix each
 * property with {@code spark.hadoop.}; Spark copies them into the Hadoop configuration without the
 * prefix.
 */
public final class KeyManagerConfiguration {
  /** The file KEK store's directory; required. */
  public static final String STORE_FILE_DIR = "keymanager.store.file.dir";

  /** Comma-separated KMS URI schemes the key manager may use. */
  public static final String ALLOWED_SCHEMES = "keymanager.allowed.schemes";

  /** The hard TTL (revocation bound), a Hadoop time duration. */
  public static final String HARD_TTL = "keymanager.hard.ttl";

  /** The refresh-ahead window, a Hadoop time duration. */
  public static final String REFRESH_AHEAD = "keymanager.refresh.ahead";

  /** How long a KMS denial is remembered, a Hadoop time duration. */
  public static final String NEGATIVE_TTL = "keymanager.negative.ttl";

  /** {@code true} to allow the development KMS providers; default {@code false}. */
  public static final String ALLOW_DEVELOPMENT_KMS = "keymanager.allow.development.kms";

  private KeyManagerConfiguration() {}

  /** Whether {@code conf} configures a key manager ({@value #STORE_FILE_DIR} is set). */
  public static boolean isConfigured(Configuration conf) {
    String dir = requireNonNull(conf, "conf").getTrimmed(STORE_FILE_DIR);
    return dir != null && !dir.isEmpty();
  }

  /**
   * A key manager, open, over the file store {@value #STORE_FILE_DIR} names, configured by the
   * properties above. Closing it does not close the store; {@link KeyManagerKmsClient} closes both.
   *
   * @throws KeyManagerConfigException if a property is missing or malformed (naming it), or the key
   *     manager cannot be built (no provider for an allowed scheme, a development scheme without
   *     {@value #ALLOW_DEVELOPMENT_KMS})
   */
  public static Built build(Configuration conf) {
    requireNonNull(conf, "conf");
    if (!isConfigured(conf)) {
      throw new KeyManagerConfigException(
          STORE_FILE_DIR + " is not set: name the directory of the file KEK store");
    }
    KeyManagers.Builder b = KeyManagers.builder();
    String schemes = conf.getTrimmed(ALLOWED_SCHEMES);
    if (schemes != null && !schemes.isEmpty()) {
      Set<String> set =
          Arrays.stream(schemes.split(","))
              .map(String::strip)
              .filter(s -> !s.isEmpty())
              .collect(Collectors.toUnmodifiableSet());
      b.allowedSchemes(set);
    }
    duration(conf, HARD_TTL, b::hardTtl);
    duration(conf, REFRESH_AHEAD, b::refreshAhead);
    duration(conf, NEGATIVE_TTL, b::negativeTtl);
    String dev = conf.getTrimmed(ALLOW_DEVELOPMENT_KMS, "false");
    if (dev.equalsIgnoreCase("true")) {
      b.allowDevelopmentKms();
    } else if (!dev.equalsIgnoreCase("false")) {
      throw new KeyManagerConfigException(
          ALLOW_DEVELOPMENT_KMS + " must be true or false: '" + dev + "'");
    }
    KekStore store = KekStores.file(Path.of(conf.getTrimmed(STORE_FILE_DIR)));
    try {
      return new Built(b.kekStore(store).build(), store);
    } catch (RuntimeException e) {
      try {
        store.close();
      } catch (Exception suppressed) {
        e.addSuppressed(suppressed);
      }
      throw e;
    }
  }

  private static void duration(
      Configuration conf, String name, java.util.function.Consumer<Duration> setter) {
    String value = conf.getTrimmed(name);
    if (value == null || value.isEmpty()) {
      return;
    }
    long millis;
    try {
      millis = conf.getTimeDuration(name, 0L, TimeUnit.SECONDS, TimeUnit.MILLISECONDS);
    } catch (NumberFormatException e) {
      throw new KeyManagerConfigException(
          name + " must be a time duration such as 5m, 90s or 500ms: '" + value + "'", e);
    }
    try {
      setter.accept(Duration.ofMillis(millis));
    } catch (IllegalArgumentException e) {
      throw new KeyManagerConfigException(name + "=" + value + ": " + e.getMessage(), e);
    }
  }

  /** A key manager built from configuration, and the store it owns. */
  public record Built(KeyManager keys, KekStore store) implements AutoCloseable {
    public Built {
      requireNonNull(keys, "keys");
      requireNonNull(store, "store");
    }

    /** Closes the key manager, then its store. */
    @Override
    public void close() {
      try (KekStore s = store) {
        keys.close();
      }
    }
  }
}
