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
 * <p><b>Ids.</b> A store keeps ids exactly: {@link #find} and {@link #versions} return only records
 * whose id equals, as a Java string, the one asked for. No normalisation, case folding, trimming or
 * lossy encoding (see {@link dev.keymanager.KekRef}); a database store needs a binary collation
 * (PostgreSQL {@code COLLATE "C"}) and a column that holds every code point (UTF-8, 4 bytes). The
 * key manager checks every record a store returns and fails the call with a non-retryable {@link
 * dev.keymanager.KekStoreException} on a mismatch; the test kit's {@code KekStoreContract} checks a
 * store keeps ids apart.
 *
 * <p>Implementations are thread-safe. Every method throws {@link dev.keymanager.KekStoreException}
 * when the medium fails or a stored record does not parse; only {@link #listKekIds()} reports
 * unreadable records instead of failing on them.
 */
public interface KekStore extends AutoCloseable {
  /** The record of one KEK version, if stored. */
  Optional<KeyEncryptionKey> find(String kekId, int version);

  /** Every stored version of a KEK, oldest first; empty if the KEK does not exist. */
  List<KeyEncryptionKey> versions(String kekId);

  /** The ids of every stored KEK, sorted. */
  List<String> kekIds();

  /**
   * The ids of every stored KEK that can be read, sorted, and a description of every stored record
   * that cannot, so that one corrupt record hides no other KEK. A store whose listing reads nothing
   * that can be corrupt (a database column of ids) may rely on the default, which returns {@link
   * #kekIds()} and reports nothing unreadable. Failures of the medium still throw.
   */
  default KekIdListing listKekIds() {
    return new KekIdListing(kekIds(), List.of());
  }

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
