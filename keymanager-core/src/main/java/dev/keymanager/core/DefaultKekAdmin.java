package dev.keymanager.core;

import dev.keymanager.KekAdmin;
import dev.keymanager.KekDescription;
import dev.keymanager.KekRef;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.spi.KekStore;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@link KekAdmin} of a {@link DefaultKeyManager}: lifecycle operations on its store, cache and
 * KMS providers. A separate object from the key manager, so a holder of the data path cannot reach
 * it and a holder of this cannot close the key manager.
 */
final class DefaultKekAdmin implements KekAdmin {
  private static final Logger log = LoggerFactory.getLogger(DefaultKekAdmin.class);

  private final KekStore store;
  private final KekLifecycle lifecycle;
  private final KekStateChanges states;
  private final Stats stats;
  private final Runnable checkOpen;

  DefaultKekAdmin(
      KekStore store,
      KekLifecycle lifecycle,
      KekStateChanges states,
      Stats stats,
      Runnable checkOpen) {
    this.store = store;
    this.lifecycle = lifecycle;
    this.states = states;
    this.stats = stats;
    this.checkOpen = checkOpen;
  }

  @Override
  public KeyEncryptionKey createKek(String kekId, URI cmkUri) {
    checkOpen.run();
    return lifecycle.create(kekId, cmkUri);
  }

  @Override
  public KeyEncryptionKey importKek(KekRef ref, URI cmkUri, byte[] wrappedMaterial) {
    checkOpen.run();
    return lifecycle.importKek(ref, cmkUri, wrappedMaterial);
  }

  @Override
  public KeyEncryptionKey rotateKek(String kekId) {
    checkOpen.run();
    return lifecycle.rotate(kekId);
  }

  @Override
  public KekDescription setMinimumDecryptionVersion(String kekId, int version) {
    checkOpen.run();
    return states.setMinimumDecryptionVersion(kekId, version);
  }

  @Override
  public KekDescription changeCmk(String kekId, URI newCmkUri) {
    checkOpen.run();
    return lifecycle.changeCmk(kekId, newCmkUri);
  }

  @Override
  public KekDescription disableKek(String kekId) {
    checkOpen.run();
    return states.disable(kekId);
  }

  @Override
  public KekDescription enableKek(String kekId) {
    checkOpen.run();
    return states.enable(kekId);
  }

  @Override
  public KekDescription scheduleKekDestruction(String kekId, Duration pendingWindow) {
    checkOpen.run();
    return states.scheduleDestruction(kekId, pendingWindow);
  }

  @Override
  public KekDescription cancelKekDestruction(String kekId) {
    checkOpen.run();
    return states.cancelDestruction(kekId);
  }

  @Override
  public KekDescription destroyKek(String kekId) {
    checkOpen.run();
    return states.destroy(kekId);
  }

  @Override
  public List<String> destroyDueKeks() {
    checkOpen.run();
    return states.destroyDue(
        unreadable -> {
          stats.unreadableRecords.increment();
          log.warn("destroyDueKeks skipped an unreadable KEK: {}", unreadable);
        });
  }

  @Override
  public Optional<KeyEncryptionKey> describeKek(String kekId) {
    checkOpen.run();
    return KekView.read(store, kekId).map(v -> v.effective(v.primaryRecord()));
  }

  @Override
  public Optional<KekDescription> describeKekVersions(String kekId) {
    KekRef.checkId(kekId);
    checkOpen.run();
    return lifecycle.describe(kekId);
  }

  @Override
  public List<String> listKeks() {
    checkOpen.run();
    List<String> ids = new ArrayList<>();
    KekIdPages.forEach(
        store,
        unreadable -> {
          stats.unreadableRecords.increment();
          log.warn("Listing KEKs skipped an unreadable KEK record: {}", unreadable);
        },
        ids::add);
    return ids;
  }

  @Override
  public String toString() {
    return "KekAdmin[" + store.getClass().getSimpleName() + "]";
  }
}
