package dev.keymanager.spi;

import dev.keymanager.KeyEncryptionKey;
import java.util.List;
import java.util.Optional;

/**
 * Persists KEK records: one {@link KeyEncryptionKey} per KEK id and version, never plaintext.
 *
 * <p>Writes are compare-and-set, so that two writers (threads, processes or nodes) can never both
 * win: {@link #create} succeeds only if no record has that id and version, and {@link
 * #compareAndSet} only if the stored record still has the revision the writer read. A write that
 * returned {@code true} is durable.
 *
 * <p>Implementations are thread-safe. Every method throws {@link dev.keymanager.KekStoreException}
 * when the medium fails or a stored record does not parse.
 */
public interface KekStore extends AutoCloseable {
  /** The record of one KEK version, if stored. */
  Optional<KeyEncryptionKey> find(String kekId, int version);

  /** Every stored version of a KEK, oldest first; empty if the KEK does not exist. */
  List<KeyEncryptionKey> versions(String kekId);

  /** The ids of every stored KEK, sorted. */
  List<String> kekIds();

  /**
   * Stores a new record if none has its id and version.
   *
   * @return {@code true} if stored, {@code false} if that id and version exist already
   * @throws IllegalArgumentException if the record's revision is not 1
   */
  boolean create(KeyEncryptionKey record);

  /**
   * Replaces the record with {@code next}'s id and version if the stored revision equals {@code
   * expectedRevision}.
   *
   * @return {@code true} if replaced, {@code false} if the stored revision differs or the record
   *     does not exist
   * @throws IllegalArgumentException if {@code next.revision()} is not {@code expectedRevision + 1}
   */
  boolean compareAndSet(long expectedRevision, KeyEncryptionKey next);

  /** Releases files, locks or connections. Idempotent; the default does nothing. */
  @Override
  default void close() {}
}
