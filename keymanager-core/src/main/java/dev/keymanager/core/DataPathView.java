package dev.keymanager.core;

import dev.keymanager.DataKey;
import dev.keymanager.DataKeyService;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerStats;
import dev.keymanager.RewrapProgress;
import dev.keymanager.RewrapRequest;
import dev.keymanager.RewrapSink;
import dev.keymanager.WarmUpReport;
import dev.keymanager.WarmUpScope;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.internal.Jca;
import dev.keymanager.core.internal.PrimaryVersions;
import java.util.Collection;
import java.util.Iterator;
import java.util.concurrent.CompletionStage;

/**
 * A key manager's data path and nothing else: {@link dev.keymanager.KeyManager#dataPathOnly()}.
 * Delegates, rather than being the key manager cast to a narrower type, so a holder can neither
 * cast it back to reach administration nor close the key manager.
 */
final class DataPathView implements DataKeyService, Jca.Source, PrimaryVersions {
  private final DataKeyService keys;
  private final Jca jca;
  private final PrimaryVersions primaries;

  DataPathView(DataKeyService keys, Jca jca, PrimaryVersions primaries) {
    this.keys = keys;
    this.jca = jca;
    this.primaries = primaries;
  }

  @Override
  public Jca jca() {
    return jca;
  }

  @Override
  public boolean mayStillBePrimary(dev.keymanager.KekRef ref) {
    return primaries.mayStillBePrimary(ref);
  }

  @Override
  public DataKey generateDek(String kekId, KeyContext context) {
    return keys.generateDek(kekId, context);
  }

  @Override
  public CompletionStage<DataKey> generateDekAsync(String kekId, KeyContext context) {
    return keys.generateDekAsync(kekId, context);
  }

  @Override
  public WrappedKey wrapDek(String kekId, byte[] dek, KeyContext context) {
    return keys.wrapDek(kekId, dek, context);
  }

  @Override
  public DataKey unwrapDek(WrappedKey wrappedKey, KeyContext context) {
    return keys.unwrapDek(wrappedKey, context);
  }

  @Override
  public CompletionStage<DataKey> unwrapDekAsync(WrappedKey wrappedKey, KeyContext context) {
    return keys.unwrapDekAsync(wrappedKey, context);
  }

  @Override
  public WrappedKey rewrapDek(WrappedKey wrappedKey, KeyContext context) {
    return keys.rewrapDek(wrappedKey, context);
  }

  @Override
  public RewrapProgress rewrapDeks(
      Iterator<RewrapRequest> requests, RewrapProgress resumeFrom, RewrapSink sink) {
    return keys.rewrapDeks(requests, resumeFrom, sink);
  }

  @Override
  public WarmUpReport warmUp(Collection<String> kekIds, WarmUpScope scope) {
    return keys.warmUp(kekIds, scope);
  }

  @Override
  public KeyManagerStats stats() {
    return keys.stats();
  }

  @Override
  public String toString() {
    return "DataKeyService[" + keys + "]";
  }
}
