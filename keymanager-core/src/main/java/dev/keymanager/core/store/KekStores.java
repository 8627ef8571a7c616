package dev.keymanager.core.store;

import static java.util.Objects.requireNonNull;

import dev.keymanager.spi.KekStore;
import java.nio.file.Path;

/**
 * The {@link KekStore}s that come with keymanager: in memory for tests, and a local directory for
 * embedded use. Fleets of nodes sharing KEKs use a database store instead ({@code
 * keymanager-store-jdbc}).
 */
public final class KekStores {
  private KekStores() {}

  /**
   * A new, empty store that keeps records in memory only, for tests and prototypes.
   *
   * <p>Nothing survives the process, and nothing is shared with other instances. Thread-safe;
   * {@code create} and {@code compareAndSet} are atomic. After {@link KekStore#close()} every
   * method throws {@link IllegalStateException}.
   */
  public static KekStore inMemory() {
    return new InMemoryKekStore();
  }

  /**
   * A store that keeps one file per KEK record in {@code directory}, creating the directory if it
   * is missing.
   *
   * <p><b>Durability.</b> A write that returns {@code true} has been forced to the device: each
   * record is written to a temporary file, forced, renamed over the old record atomically, and the
   * directory is forced. A process kill or power loss at any instant leaves each record either as
   * it was or as it was written, never torn; temporary files a killed writer leaves are ignored and
   * removed by the next open. Where the platform cannot force a directory (Windows, some network
   * file systems) a warning is logged once and a rename is as durable as the platform makes it.
   *
   * <p><b>Integrity.</b> Each record carries a format version and a CRC32C checksum. A record that
   * fails them raises a non-retryable {@link dev.keymanager.KekStoreException} naming the file; I/O
   * failures raise a retryable one.
   *
   * <p><b>Permissions.</b> On POSIX file systems a directory this method creates is {@code
   * rwx------} and every file it writes is {@code rw-------}. An existing directory is used as it
   * is; a warning is logged if others can access it.
   *
   * <p><b>Concurrency.</b> Thread-safe. {@code create} and {@code compareAndSet} are atomic across
   * threads, across stores opened on the same directory in this JVM, and across processes on the
   * same host, through an exclusive lock on {@code directory/.lock}. Reads take no lock. Sharing
   * the directory between hosts over a network file system relies on that file system's locks: use
   * a database store for fleets.
   *
   * <p>Ids may be any valid KEK id, including {@code /}, {@code ..} and non-ASCII characters: file
   * names are derived from a hash of the id, so no id can name a path outside {@code directory}.
   * Close the store to release the lock file; after {@link KekStore#close()} every method throws
   * {@link IllegalStateException}.
   *
   * @throws dev.keymanager.KekStoreException (retryable) if the directory cannot be created or
   *     opened
   */
  public static KekStore file(Path directory) {
    requireNonNull(directory, "directory");
    return FileKekStore.open(directory);
  }
}
