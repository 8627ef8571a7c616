package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.KmsUnavailableException;
import dev.keymanager.RewrapProgress;
import dev.keymanager.RewrapRequest;
import dev.keymanager.RewrapSink;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class RewrapTest {
  private static final URI CMK = FakeKms.cmk("rewrap");

  private final FakeKms kms = new FakeKms();
  private final MutableClock clock = new MutableClock();
  private KeyManager keys;

  @BeforeEach
  void setUp() {
    keys =
        KeyManagers.builder()
            .kekStore(KekStores.inMemory())
            .kmsProvider(kms)
            .discoverProviders(false)
            .clock(clock)
            .build();
    keys.admin().createKek("orders", CMK);
    keys.admin().createKek("users", CMK);
  }

  @AfterEach
  void tearDown() {
    keys.close();
  }

  private static KeyContext context(int i) {
    return KeyContext.of("file", "part-" + i);
  }

  private static byte[] bytes(DataKey dek) {
    return dek.use(byte[]::clone);
  }

  @Test
  void rewrapMovesADekToThePrimaryVersionWithoutChangingIt() {
    WrappedKey v1;
    byte[] dek;
    try (DataKey generated = keys.generateDek("orders", context(1))) {
      v1 = generated.wrappedKey();
      dek = bytes(generated);
    }
    keys.admin().rotateKek("orders");
    keys.admin().rotateKek("orders");

    WrappedKey v3 = keys.rewrapDek(v1, context(1));

    assertThat(v3.kek().version()).isEqualTo(3);
    assertThat(keys.rewrapDek(v3, context(1))).isSameAs(v3); // already current
    keys.admin().setMinimumDecryptionVersion("orders", 3);
    try (DataKey back = keys.unwrapDek(v3, context(1))) {
      assertThat(bytes(back)).isEqualTo(dek); // the data's key is unchanged
    }
    assertThatThrownBy(() -> keys.rewrapDek(v3, context(2)))
        .isInstanceOf(InvalidCiphertextException.class);
  }

  /** A sink that stores rewrapped keys by position, as a caller's table would. */
  private static final class Table implements RewrapSink {
    final Map<Long, WrappedKey> rows = new HashMap<>();
    final List<RewrapProgress> progress = new ArrayList<>();
    long failAt = -1;

    @Override
    public void rewrapped(long position, WrappedKey before, WrappedKey after) {
      if (position == failAt) {
        failAt = -1;
        throw new IllegalStateException("table write failed at " + position);
      }
      assertThat(rows.get(position)).isEqualTo(before);
      rows.put(position, after);
    }

    @Override
    public void progress(RewrapProgress p) {
      progress.add(p);
    }

    List<RewrapRequest> requests() {
      return IntStream.range(0, rows.size())
          .mapToObj(i -> new RewrapRequest(rows.get((long) i), context(i)))
          .toList();
    }
  }

  @Test
  void bulkRewrapReportsProgressStopsAtAFailureAndResumesIdempotently() {
    Table table = new Table();
    Map<Long, byte[]> deks = new HashMap<>();
    int n = 2500;
    for (int i = 0; i < n; i++) {
      String kek = i % 5 == 0 ? "users" : "orders";
      try (DataKey dek = keys.generateDek(kek, context(i))) {
        table.rows.put((long) i, dek.wrappedKey());
        deks.put((long) i, bytes(dek));
      }
      if (i == n / 2) {
        keys.admin().rotateKek("orders"); // half the orders keys are current already
      }
    }
    keys.admin().rotateKek("orders");
    keys.admin().rotateKek("users");
    table.failAt = 1700;

    RewrapProgress first =
        keys.rewrapDeks(table.requests().iterator(), RewrapProgress.START, table);

    assertThat(first.isComplete()).isFalse();
    assertThat(first.position()).isEqualTo(1700);
    assertThat(first.failure().orElseThrow()).hasMessageContaining("table write failed at 1700");
    assertThat(first.rewrapped() + first.unchanged()).isEqualTo(1700);
    assertThat(table.progress)
        .extracting(RewrapProgress::position)
        .containsExactly(1000L, 1700L); // every 1000 requests, and once where it stopped

    RewrapProgress resumed =
        keys.rewrapDeks(
            table.requests().iterator(), RewrapProgress.resumeAt(first.position()), table);

    assertThat(resumed.isComplete()).isTrue();
    assertThat(resumed.position()).isEqualTo(n);
    assertThat(resumed.rewrapped() + resumed.unchanged()).isEqualTo(n - 1700);
    assertThat(table.progress.get(table.progress.size() - 1)).isEqualTo(resumed);

    // Everything is under the newest versions now; a third run from 0 changes nothing.
    RewrapProgress again =
        keys.rewrapDeks(table.requests().iterator(), RewrapProgress.START, table);
    assertThat(again.rewrapped()).isZero();
    assertThat(again.unchanged()).isEqualTo(n);
    keys.admin().setMinimumDecryptionVersion("orders", 3);
    keys.admin().setMinimumDecryptionVersion("users", 2);
    for (long i = 0; i < n; i++) {
      WrappedKey w = table.rows.get(i);
      assertThat(w.kek().version()).isEqualTo(w.kek().id().equals("orders") ? 3 : 2);
      try (DataKey back = keys.unwrapDek(w, context((int) i))) {
        assertThat(bytes(back)).isEqualTo(deks.get(i));
      }
    }
  }

  @Test
  void aKmsOutageStopsTheRunWithARetryableFailureAtTheRightPosition() {
    Table table = new Table();
    for (int i = 0; i < 10; i++) {
      table.rows.put((long) i, keys.generateDek("orders", context(i)).wrappedKey());
    }
    keys.admin().rotateKek("orders");
    clock.advance(KeyManagers.DEFAULT_HARD_TTL.plusSeconds(1)); // v1 must come from the KMS again
    kms.failAllCalls(true);

    RewrapProgress stopped =
        keys.rewrapDeks(table.requests().iterator(), RewrapProgress.START, table);

    assertThat(stopped.position()).isZero();
    assertThat(stopped.failure().orElseThrow()).isInstanceOf(KmsUnavailableException.class);
    kms.failAllCalls(false);
    RewrapProgress done = keys.rewrapDeks(table.requests().iterator(), stopped, table);
    assertThat(done.isComplete()).isTrue();
    assertThat(done.rewrapped()).isEqualTo(10);
  }

  @Test
  void aTamperedKeyCanBeSkippedByResumingPastIt() {
    Table table = new Table();
    for (int i = 0; i < 4; i++) {
      table.rows.put((long) i, keys.generateDek("orders", context(i)).wrappedKey());
    }
    byte[] bad = table.rows.get(2L).encode();
    bad[bad.length - 1] ^= 1;
    table.rows.put(2L, WrappedKey.decode(bad));
    keys.admin().rotateKek("orders");

    RewrapProgress stopped =
        keys.rewrapDeks(table.requests().iterator(), RewrapProgress.START, table);
    assertThat(stopped.position()).isEqualTo(2);
    assertThat(stopped.failure().orElseThrow()).isInstanceOf(InvalidCiphertextException.class);

    RewrapProgress rest =
        keys.rewrapDeks(
            table.requests().iterator(),
            new RewrapProgress(3, stopped.rewrapped(), stopped.unchanged(), stopped.failure()),
            table);
    assertThat(rest.isComplete()).isTrue();
    assertThat(rest.rewrapped()).isEqualTo(3);
  }
}
