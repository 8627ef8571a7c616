package dev.keymanager.parquet;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KeyManager;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentMap;
import org.apache.hadoop.conf.Configuration;

/**
 * Where an application puts the {@link KeyManager} that Parquet's key tools should use, under a
 * name that the Hadoop configuration refers to ({@code parquet.encryption.kms.instance.id}).
 *
 * <p>Parquet creates its {@code KmsClient} by class name from a Hadoop {@code Configuration}, so it
 * cannot be handed an object. The application builds its key manager as usual and registers it
 * here; {@link KeyManagerKmsClient} looks the name up on every wrap and unwrap, so a key manager
 * that is replaced (closed and registered anew under the same name) is picked up at once, even by
 * the client instances Parquet keeps in its own cache.
 *
 * <pre>{@code
 * try (KeyManager keys = KeyManagers.builder().kekStore(store).build();
 *     KeyManagerRegistry.Registration r = KeyManagerRegistry.register("orders", keys)) {
 *   // write and read encrypted Parquet files with parquet.encryption.kms.instance.id=orders
 * }
 * }</pre>
 *
 * <p>The registry is process-wide (a static map) and thread-safe. It holds references only: it
 * never closes a key manager registered here; closing the {@link Registration} removes the entry.
 *
 * <p>Jobs that cannot run code first (Spark configured only by {@code spark.hadoop.*} properties)
 * can let the client build the key manager from configuration instead: {@link
 * KeyManagerConfiguration}.
 */
public final class KeyManagerRegistry {
  private static final ConcurrentMap<String, KeyManager> REGISTERED = new ConcurrentHashMap<>();
  // Key managers built from configuration (lookupOrBuild): registered for the life of the process.
  private static final List<KeyManagerConfiguration.Built> CONFIGURED = new ArrayList<>();
  private static boolean shutdownHookAdded; // guarded by CONFIGURED

  private KeyManagerRegistry() {}

  /**
   * Registers {@code keys} under {@code name} until the returned registration is closed.
   *
   * @throws IllegalStateException if another key manager is registered under that name
   * @throws IllegalArgumentException if the name is empty or has leading or trailing white space
   *     (Parquet trims the property it reads the name from)
   */
  public static Registration register(String name, KeyManager keys) {
    requireNonNull(name, "name");
    requireNonNull(keys, "keys");
    if (name.isEmpty() || !name.strip().equals(name)) {
      throw new IllegalArgumentException(
          "key manager name must be non-empty with no leading or trailing white space: '"
              + name
              + "'");
    }
    KeyManager previous = REGISTERED.putIfAbsent(name, keys);
    if (previous != null && previous != keys) {
      throw new IllegalStateException(
          "a key manager is registered under the name '"
              + name
              + "' already: close its registration first");
    }
    return new Registration(name, keys);
  }

  /**
   * The key manager registered under {@code name}; if there is none and {@code conf} {@linkplain
   * KeyManagerConfiguration#isConfigured configures} one, builds it, registers it under {@code
   * name} for the life of the process (closed with its store at JVM shutdown) and returns it. Two
   * threads racing build one key manager.
   */
  static Optional<KeyManager> lookupOrBuild(String name, Configuration conf) {
    Optional<KeyManager> registered = lookup(name);
    if (registered.isPresent() || !KeyManagerConfiguration.isConfigured(conf)) {
      return registered;
    }
    synchronized (CONFIGURED) {
      registered = lookup(name);
      if (registered.isPresent()) {
        return registered;
      }
      KeyManagerConfiguration.Built built = KeyManagerConfiguration.build(conf);
      register(name, built.keys());
      CONFIGURED.add(built);
      if (!shutdownHookAdded) {
        Runtime.getRuntime()
            .addShutdownHook(
                new Thread(KeyManagerRegistry::closeConfigured, "keymanager-parquet-shutdown"));
        shutdownHookAdded = true;
      }
      return Optional.of(built.keys());
    }
  }

  private static void closeConfigured() {
    synchronized (CONFIGURED) {
      for (KeyManagerConfiguration.Built built : CONFIGURED) {
        built.close();
      }
      CONFIGURED.clear();
    }
  }

  /** The key manager registered under {@code name}, if any. */
  static Optional<KeyManager> lookup(String name) {
    return Optional.ofNullable(REGISTERED.get(requireNonNull(name, "name")));
  }

  /** A key manager's entry in the registry; closing it removes the entry. */
  public static final class Registration implements AutoCloseable {
    private final String name;
    private final KeyManager keys;

    private Registration(String name, KeyManager keys) {
      this.name = name;
      this.keys = keys;
    }

    /** The name the key manager is registered under. */
    public String name() {
      return name;
    }

    /**
     * Removes the entry if it still maps to this registration's key manager; the key manager stays
     * open. Idempotent.
     */
    @Override
    public void close() {
      REGISTERED.remove(name, keys);
    }

    @Override
    public String toString() {
      return "KeyManagerRegistry.Registration[" + name + "]";
    }
  }
}
