package dev.keymanager.spi;

import dev.keymanager.KeyEncryptionKey;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * Persists KEK records, never plaintext: per KEK one {@link KekHead} (its state, primary version,
 * minimum decryption version, destruction time and CMK) and one {@link KeyEncryptionKey} version
 * record per version (its wrapped material and the CMK that wraps it).
 *
 * <p>Writes are compare-and-set, so that two writers (threads, processes or nodes) can never both
 * win: {@link #create} and {@link #createHead} succeed only if no such record exists, {@link
 * #compareAndSet} and {@link #compareAndSetHead} only if the stored record still has the revision
 * the writer read. A write that returned {@code true} is durable. Each write touches one record;
 * the store needs no transaction spanning two. Core decides every KEK-wide change with one {@link
 * #compareAndSetHead}, so the head alone orders them across a fleet.
 *
 * <p><b>Layout migration.</b> Stores written before head records existed hold version records only;
 * {@link #head} returns empty for their KEKs, core derives the head from the version records'
 * states as the old layout defined them, and creates the head on the first change.
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
 * when the medium fails or a stored record does not parse; only {@link #kekIds(String, int)}
 * reports unreadable records instead of failing on them. The test kit's {@code KekStoreContract}
 * checks an implementation.
 */
public interface KekStore extends AutoCloseable {
  /** The record of one KEK version, if stored. */
  Optional<KeyEncryptionKey> find(String kekId, int version);

  /**
   * Every stored version record of a KEK, oldest first; empty if the KEK does not exist. May
   * include versions above the head's primary version (rotations that lost or never finished).
   */
  List<KeyEncryptionKey> versions(String kekId);

  /**
   * One page of the ids of every KEK with at least one stored version record, in {@link
   * KekIdPage#ORDER} (code point order, which every store shares): the first {@code limit} ids
   * greater than {@code after}. Pass {@code ""} for the first page and the last id of a page for
   * the next, until a page says {@link KekIdPage#hasMore() hasMore} is {@code false}. A page holds
   * {@code limit} ids unless the listing ends on it. Ids created while a caller pages may or may
   * not be listed; an id listed once stays listed (stores never delete a KEK).
   *
   * <p>A record the store cannot read is reported in {@link KekIdPage#unreadable()} of the page it
   * was met on instead of failing the call, so that one corrupt record hides no other KEK. A store
   * whose listing reads nothing that can be corrupt (a database column of ids) reports nothing
   * unreadable. Failures of the medium still throw.
   *
   * @param after {@code ""} for the first page, else a valid KEK id (usually the last of the
   *     previous page; it need not exist)
   * @param limit the most ids to return, at least 1
   * @throws IllegalArgumentException if {@code after} is neither empty nor a valid KEK id, or
   *     {@code limit} is below 1 (see {@link KekStoreChecks#checkPage})
   */
  KekIdPage kekIds(String after, int limit);

  /**
   * Stores a new version record if none has its id and version.
   *
   * @return {@code true} if stored, {@code false} if that id and version exist already
   * @throws IllegalArgumentException if the record's revision is not 1
   */
  boolean create(KeyEncryptionKey record);

  /**
   * Replaces the version record with {@code next}'s id and version if the stored revision equals
   * {@code expectedRevision}.
   *
   * @return {@code true} if replaced, {@code false} if the stored revision differs or the record
   *     does not exist
   * @throws IllegalArgumentException if {@code next.revision()} is not {@code expectedRevision + 1}
   */
  boolean compareAndSet(long expectedRevision, KeyEncryptionKey next);

  /** The head record of a KEK, if stored (empty for a KEK of the layout before heads). */
  Optional<KekHead> head(String kekId);

  /**
   * Stores a new head if the KEK has none.
   *
   * @return {@code true} if stored, {@code false} if the KEK has a head already
   * @throws IllegalArgumentException if the head's revision is not 1
   */
  boolean createHead(KekHead head);

  /**
   * Replaces the head of {@code next}'s KEK if the stored revision equals {@code expectedRevision}.
   *
   * @return {@code true} if replaced, {@code false} if the stored revision differs or there is no
   *     head
   * @throws IllegalArgumentException if {@code next.revision()} is not {@code expectedRevision + 1}
   */
  boolean compareAndSetHead(long expectedRevision, KekHead next);

  /**
   * Starts delivering change notices to {@code listener}, if this store can push them: an optional
   * capability, for stores shared by several processes, so that a change made by one process (a
   * disable, a rotation) reaches the caches of the others before their hard TTL. A store that
   * cannot push returns empty, as the default does; readers then see other writers' changes when
   * they read the store again.
   *
   * <p>The first notice is {@link KekChangeListener#changesMayHaveBeenMissed()}, once the feed is
   * live; from then on every change committed to this store, by any writer through a store of the
   * same kind on the same medium, is announced, and every time the feed may have lost notices (a
   * lost connection) it says so again with {@link KekChangeListener#changesMayHaveBeenMissed()}.
   * Notices are best effort in time, not in completeness: a store never drops a notice without
   * saying so, but may deliver it late. {@link #close()} ends every subscription.
   *
   * @return the running subscription, or empty if this store has no change feed
   */
  default Optional<KekChangeSubscription> subscribe(KekChangeListener listener) {
    Objects.requireNonNull(listener, "listener");
    return Optional.empty();
  }

  /** Releases files, locks or connections. Idempotent; the default does nothing. */
  @Override
  default void close() {}
}
