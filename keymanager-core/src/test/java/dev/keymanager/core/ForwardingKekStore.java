package dev.keymanager.core;

import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.spi.KekHead;
import dev.keymanager.spi.KekIdPage;
import dev.keymanager.spi.KekStore;
import java.util.List;
import java.util.Optional;

/** A store that forwards every call, for tests that slip another writer in between two calls. */
class ForwardingKekStore implements KekStore {
  private final KekStore delegate;

  ForwardingKekStore(KekStore delegate) {
    this.delegate = delegate;
  }

  @Override
  public Optional<KeyEncryptionKey> find(String kekId, int version) {
    return delegate.find(kekId, version);
  }

  @Override
  public List<KeyEncryptionKey> versions(String kekId) {
    return delegate.versions(kekId);
  }

  @Override
  public KekIdPage kekIds(String after, int limit) {
    return delegate.kekIds(after, limit);
  }

  @Override
  public boolean create(KeyEncryptionKey record) {
    return delegate.create(record);
  }

  @Override
  public boolean compareAndSet(long expectedRevision, KeyEncryptionKey next) {
    return delegate.compareAndSet(expectedRevision, next);
  }

  @Override
  public Optional<KekHead> head(String kekId) {
    return delegate.head(kekId);
  }

  @Override
  public boolean createHead(KekHead head) {
    return delegate.createHead(head);
  }

  @Override
  public boolean compareAndSetHead(long expectedRevision, KekHead next) {
    return delegate.compareAndSetHead(expectedRevision, next);
  }
}
