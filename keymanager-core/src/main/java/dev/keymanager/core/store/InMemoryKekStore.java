package dev.keymanager.core.store;

import dev.keymanager.KekRef;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.spi.KekHead;
import dev.keymanager.spi.KekIdPage;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KekStoreChecks;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.NavigableSet;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentNavigableMap;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.concurrent.ConcurrentSkipListSet;

/**
 * A {@link KekStore} in a concurrent map, for tests: nothing survives the process.
 *
 * <p>Heads live in their own map, one entry per KEK id. A sorted map keyed by (id, version) keeps
 * {@link #versions} ordered, and a sorted set of ids (in {@link KekIdPage#ORDER}) serves {@link
 * #kekIds} pages without a scan.
 */
final class InMemoryKekStore implements KekStore {
  private static final Comparator<KekRef> ORDER =
      Comparator.comparing(KekRef::id, KekIdPage.ORDER).thenComparingInt(KekRef::version);

  private final ConcurrentNavigableMap<KekRef, KeyEncryptionKey> records =
      new ConcurrentSkipListMap<>(ORDER);
  private final NavigableSet<String> ids = new ConcurrentSkipListSet<>(KekIdPage.ORDER);
  private final ConcurrentHashMap<String, KekHead> heads = new ConcurrentHashMap<>();
  private volatile boolean closed;

  @Override
  public Optional<KeyEncryptionKey> find(String kekId, int version) {
    KekRef ref = new KekRef(kekId, version);
    ensureOpen();
    return Optional.ofNullable(records.get(ref));
  }

  @Override
  public List<KeyEncryptionKey> versions(String kekId) {
    KekRef.checkId(kekId);
    ensureOpen();
    return new ArrayList<>(
        records
            .subMap(new KekRef(kekId, 1), true, new KekRef(kekId, Integer.MAX_VALUE), true)
            .values());
  }

  @Override
  public KekIdPage kekIds(String after, int limit) {
    KekStoreChecks.checkPage(after, limit);
    ensureOpen();
    List<String> page = new ArrayList<>(Math.min(limit, 1024));
    for (String id : ids.tailSet(after, false)) {
      if (page.size() == limit) {
        return new KekIdPage(page, List.of(), true);
      }
      page.add(id);
    }
    return new KekIdPage(page, List.of(), false);
  }

  @Override
  public boolean create(KeyEncryptionKey record) {
    KekStoreChecks.checkNewRecord(record);
    ensureOpen();
    if (records.putIfAbsent(record.ref(), record) != null) {
      return false;
    }
    ids.add(record.id());
    return true;
  }

  @Override
  public boolean compareAndSet(long expectedRevision, KeyEncryptionKey next) {
    KekStoreChecks.checkNextRevision(expectedRevision, next);
    ensureOpen();
    while (true) {
      KeyEncryptionKey current = records.get(next.ref());
      if (current == null || current.revision() != expectedRevision) {
        return false;
      }
      // replace() compares whole records; a failure means another writer got in first: re-read.
      if (records.replace(next.ref(), current, next)) {
        return true;
      }
    }
  }

  @Override
  public Optional<KekHead> head(String kekId) {
    KekRef.checkId(kekId);
    ensureOpen();
    return Optional.ofNullable(heads.get(kekId));
  }

  @Override
  public boolean createHead(KekHead head) {
    KekStoreChecks.checkNewHead(head);
    ensureOpen();
    return heads.putIfAbsent(head.id(), head) == null;
  }

  @Override
  public boolean compareAndSetHead(long expectedRevision, KekHead next) {
    KekStoreChecks.checkNextHead(expectedRevision, next);
    ensureOpen();
    KekHead current = heads.get(next.id());
    // replace() compares whole heads, and a revision is never reused: equal means unchanged.
    return current != null
        && current.revision() == expectedRevision
        && heads.replace(next.id(), current, next);
  }

  @Override
  public void close() {
    closed = true;
  }

  private void ensureOpen() {
    if (closed) {
      throw new IllegalStateException("KEK store is closed");
    }
  }
}
