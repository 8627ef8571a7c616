package dev.keymanager.testkit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KekState;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.spi.KekHead;
import dev.keymanager.spi.KekIdPage;
import dev.keymanager.spi.KekStore;
import dev.keymanager.spi.KmsProvider;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The conformance suite of {@link KekStore}: every implementation's test extends it and passes.
 *
 * <p>Extend it with a class that returns a fresh, empty store from {@link #newStore()}:
 *
 * <pre>{@code
 * class MyKekStoreTest extends KekStoreContract {
 *   @Override
 *   protected KekStore newStore() {
 *     return new MyKekStore(freshDatabase());
 *   }
 *
 *   @Override
 *   protected KeyManager keyManager(KekStore store, KmsProvider kms) {
 *     return KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false).build();
 *   }
 * }
 * }</pre>
 *
 * <p>{@link #keyManager} builds a key manager (keymanager-core's {@code KeyManagers}, which this
 * module cannot depend on) for the tests that check what the key manager does with a store that
 * answers for the wrong KEK: the suite wraps the store under test in such a double and checks that
 * every call fails with a non-retryable {@link KekStoreException} and uses no other tenant's KEK.
 *
 * <p>A persistent store also overrides {@link #reopen(KekStore)} to close the store and open a new
 * one on the same medium; the suite then checks that every write that returned {@code true}
 * survives the reopen. The suite closes every store it opens, after each test.
 *
 * <p>It checks round trips of every field and of unusual ids, that ids which lossy encodings or
 * case-insensitive or normalising collations would merge stay apart, that ids with unpaired
 * surrogates are rejected, the create-if-absent and compare-and-set contracts with their argument
 * checks, ordering of {@link KekStore#versions}, paging and ordering of {@link KekStore#kekIds},
 * and races: {@value #THREADS} threads × {@value #ROUNDS} rounds of compare-and-set from one read,
 * where exactly one must win each round and no update may be lost, and racing creates of one id and
 * version, where exactly one must win.
 *
 * <p>Heads ({@link KekHead}) get the same checks: round trips of every field and state,
 * create-if-absent, compare-and-set with its argument checks, independence from version records,
 * and a race of {@value #THREADS} threads × {@value #ROUNDS} rounds where exactly one wins each.
 *
 * <p>Records must come back equal in every field: timestamps to the nanosecond (a SQL timestamp
 * with microseconds is not enough), wrapped material byte for byte. {@link KekStore#kekIds} pages
 * come in {@link KekIdPage#ORDER} (code point order, not {@link String#compareTo}), whatever the
 * page size, each page full unless it is the last, and the same after a reopen.
 *
 * <p>Test methods are public, unlike ordinary tests, so that subclasses in any package inherit them
 * and they are listed in this page's javadoc.
 */
public abstract class KekStoreContract {
  /** Threads in the race tests. */
  protected static final int THREADS = 8;

  /** Rounds of the compare-and-set race. */
  protected static final int ROUNDS = 200;

  private static final URI CMK = URI.create("fake-kms://contract-cmk");
  private static final URI OTHER_CMK = URI.create("fake-kms://contract-cmk-2");
  private static final Instant T0 = Instant.parse("2024-05-01T10:15:30.123456789Z");
  private static final long RACE_TIMEOUT_SECONDS = 60;

  private final List<KekStore> opened = new ArrayList<>();
  private KekStore store;

  /** Creates the store under test; the contract calls it once per test. */
  protected KekStoreContract() {}

  /**
   * A new, empty store, independent of every store this method returned before. The suite closes
   * it.
   */
  protected abstract KekStore newStore() throws Exception;

  /**
   * Closes {@code store} and opens a new instance on the same medium, as a restarted process would.
   * The default returns {@code store} itself, which is right for stores that keep nothing beyond
   * the instance.
   */
  protected KekStore reopen(KekStore store) throws Exception {
    return store;
  }

  /**
   * A key manager over {@code store} using {@code kms} as its only KMS provider, with default
   * settings otherwise. The suite closes it.
   */
  protected abstract KeyManager keyManager(KekStore store, KmsProvider kms) throws Exception;

  @BeforeEach
  final void openStore() throws Exception {
    store = track(newStore());
  }

  @AfterEach
  final void closeStores() throws Exception {
    Exception failure = null;
    for (KekStore s : opened) {
      try {
        s.close();
      } catch (Exception e) {
        if (failure == null) {
          failure = e;
        } else {
          failure.addSuppressed(e);
        }
      }
    }
    opened.clear();
    if (failure != null) {
      throw failure;
    }
  }

  /** Every field, including timestamps with nanoseconds, comes back as written. */
  @Test
  public void createThenFindReturnsEqualRecord() throws Exception {
    KeyEncryptionKey record =
        record("tenant-1", 1)
            .state(KekState.DISABLED)
            .updatedAt(T0.plus(Duration.ofDays(3)).plusNanos(7))
            .build();

    assertThat(store.create(record)).isTrue();

    assertStored(record);
  }

  /** A record pending destruction keeps its destruction time. */
  @Test
  public void createThenFindKeepsPendingDestructionAndDestroyAt() throws Exception {
    KeyEncryptionKey record =
        record("tenant-pending", 2)
            .state(KekState.PENDING_DESTRUCTION)
            .destroyAt(T0.plus(Duration.ofDays(30)))
            .build();

    assertThat(store.create(record)).isTrue();

    assertStored(record);
    assertThat(store.find("tenant-pending", 2).orElseThrow().destroyAt())
        .contains(T0.plus(Duration.ofDays(30)));
  }

  /** A destroyed record has empty material, and that round-trips too. */
  @Test
  public void createThenFindKeepsDestroyedRecordWithEmptyMaterial() throws Exception {
    KeyEncryptionKey record =
        record("tenant-destroyed", 1)
            .state(KekState.DESTROYED)
            .wrappedMaterial(new byte[0])
            .build();

    assertThat(store.create(record)).isTrue();

    assertStored(record);
    assertThat(store.find("tenant-destroyed", 1).orElseThrow().wrappedMaterial()).isEmpty();
  }

  /**
   * Every state round-trips, {@link KekState#RETIRED} included: the minimum decryption version is
   * stored as the retired state of older versions, so a store that drops it re-enables them.
   */
  @Test
  public void everyStateRoundTrips() throws Exception {
    for (KekState state : KekState.values()) {
      KeyEncryptionKey.Builder b = record("tenant-states", state.ordinal() + 1).state(state);
      if (state == KekState.PENDING_DESTRUCTION) {
        b.destroyAt(T0.plus(Duration.ofDays(7)));
      } else if (state == KekState.DESTROYED) {
        b.wrappedMaterial(new byte[0]);
      }
      KeyEncryptionKey record = b.build();

      assertThat(store.create(record)).as("create %s", state).isTrue();

      assertStored(record);
    }
    KeyEncryptionKey v1 = store.find("tenant-states", 1).orElseThrow();
    assertThat(store.compareAndSet(1, next(v1).state(KekState.RETIRED).build())).isTrue();
    assertThat(store.find("tenant-states", 1).orElseThrow().state()).isEqualTo(KekState.RETIRED);
  }

  /** Ids that look like paths, escapes, unicode or the longest allowed id are just ids. */
  @Test
  public void createThenFindWorksForUnusualIds() throws Exception {
    List<String> ids =
        List.of(
            "a/b/c",
            "/leading-slash",
            "trailing-slash/",
            "..",
            ".",
            "../../etc/passwd",
            "a/../b",
            "100%",
            "%2e%2e%2f",
            "with space",
            " ",
            "Tenant",
            "tenant",
            "tenant\\windows",
            "CON",
            "ünïcödé-ключ-鍵-🔑",
            "x".repeat(255),
            "€".repeat(85)); // 255 UTF-8 bytes in 85 chars
    List<KeyEncryptionKey> records = new ArrayList<>();
    for (int i = 0; i < ids.size(); i++) {
      KeyEncryptionKey record = record(ids.get(i), 1).wrappedMaterial(material(i)).build();
      assertThat(store.create(record)).as("create %s", ids.get(i)).isTrue();
      records.add(record);
    }

    for (int pass = 0; pass < 2; pass++) {
      for (KeyEncryptionKey record : records) {
        assertThat(store.find(record.id(), 1)).as("find %s", record.id()).contains(record);
        assertThat(store.versions(record.id()))
            .as("versions %s", record.id())
            .containsExactly(record);
      }
      assertThat(allIds()).containsExactlyElementsOf(ids.stream().sorted(KekIdPage.ORDER).toList());
      store = reopened();
    }
  }

  /**
   * Ids that a lossy encoding (a 3-byte "utf8" column, a lone surrogate turned into {@code ?}), a
   * case-insensitive, accent-insensitive or padding collation, or Unicode normalisation would merge
   * are different KEKs: storing one never answers for the other.
   */
  @Test
  public void idsThatEncodingsOrCollationsWouldMergeStayApart() throws Exception {
    List<List<String>> pairs =
        List.of(
            List.of("tenant-?", "tenant-\uFFFD"),
            List.of("key-?", "key-\uD83D\uDD11"),
            List.of("Tenant-A", "tenant-a"),
            List.of("caf\u00e9", "cafe\u0301"), // NFC and NFD of the same text
            List.of("\uFB01le", "file"), // NFKC folds the ligature
            List.of("stra\u00DFe", "strasse"),
            List.of("pad", "pad "),
            List.of("accent-e", "accent-\u00e9"));
    int seed = 0;
    for (List<String> pair : pairs) {
      String first = pair.get(0);
      String second = pair.get(1);
      KeyEncryptionKey a = record(first, 1).wrappedMaterial(material(++seed)).build();
      assertThat(store.create(a)).as("create %s", first).isTrue();

      assertThat(store.find(second, 1)).as("find %s after creating %s", second, first).isEmpty();
      assertThat(store.versions(second)).as("versions %s", second).isEmpty();

      KeyEncryptionKey b = record(second, 1).wrappedMaterial(material(++seed)).build();
      assertThat(store.create(b)).as("create %s beside %s", second, first).isTrue();
      assertThat(store.find(first, 1)).contains(a);
      assertThat(store.find(second, 1)).contains(b);
    }
    store = reopened();
    List<String> all = pairs.stream().flatMap(List::stream).sorted(KekIdPage.ORDER).toList();
    assertThat(allIds()).containsExactlyElementsOf(all);
    for (String id : all) {
      assertThat(store.versions(id)).singleElement().extracting(KeyEncryptionKey::id).isEqualTo(id);
    }
  }

  /**
   * An unpaired UTF-16 surrogate is not text any store can keep: such ids are rejected with {@link
   * IllegalArgumentException} before anything is read or written.
   */
  @Test
  public void idsWithUnpairedSurrogatesAreRejected() throws Exception {
    assertThat(store.create(record("lone-?", 1).build())).isTrue();
    for (String id : List.of("lone-\uD800", "lone-\uDC00", "\uDBFF", "x\uDC00\uD800")) {
      assertThatThrownBy(() -> store.find(id, 1))
          .as("find %s", id.codePoints().mapToObj(Integer::toHexString).toList())
          .isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> store.versions(id)).isInstanceOf(IllegalArgumentException.class);
      assertThatThrownBy(() -> record(id, 1).build()).isInstanceOf(IllegalArgumentException.class);
    }
    assertThat(allIds()).containsExactly("lone-?");
  }

  /**
   * A store that answers reads for one KEK with another's records (as a case-insensitive collation
   * or a lossy id encoding would) makes every key manager call on that KEK fail with a
   * non-retryable {@link KekStoreException}: no DEK is wrapped or unwrapped under the other
   * tenant's KEK, and no lifecycle call changes it.
   */
  @Test
  public void aStoreAnsweringWithAnotherKeksRecordsFailsTheCall() throws Exception {
    FakeKms kms = new FakeKms();
    URI cmk = FakeKms.cmk("contract-alias");
    KeyContext context = KeyContext.of(Map.of("table", "orders"));
    WrappedKey underB;
    try (KeyManager honest = track(keyManager(store, kms))) {
      honest.admin().createKek("victim-a", cmk);
      honest.admin().createKek("caller-b", cmk);
      try (DataKey dek = honest.generateDek("caller-b", context)) {
        underB = dek.wrappedKey();
      }
    }
    KeyEncryptionKey aBefore = store.find("victim-a", 1).orElseThrow();
    AliasingStore aliasing = new AliasingStore(store, "caller-b", "victim-a");

    try (KeyManager fooled = track(keyManager(aliasing, kms))) {
      List<Callable<?>> calls =
          List.of(
              () -> fooled.generateDek("caller-b", context),
              () -> fooled.wrapDek("caller-b", material(7), context),
              () -> fooled.unwrapDek(underB, context),
              () -> fooled.admin().describeKek("caller-b"),
              () -> fooled.admin().describeKekVersions("caller-b"),
              () -> fooled.admin().rotateKek("caller-b"),
              () -> fooled.admin().disableKek("caller-b"));
      for (int i = 0; i < calls.size(); i++) {
        Callable<?> call = calls.get(i);
        Throwable failure = org.assertj.core.api.Assertions.catchThrowable(call::call);
        assertThat(failure).as("call %s", i).isInstanceOf(KekStoreException.class);
        assertThat(((KekStoreException) failure).isRetryable())
            .as("call %s retryable", i)
            .isFalse();
        assertThat(failure).as("call %s", i).hasMessageContaining("victim-a");
      }
    }
    assertThat(store.find("victim-a", 1)).as("the other tenant's KEK").contains(aBefore);
    assertThat(store.versions("victim-a")).hasSize(1);
  }

  /** On a store with no corrupt record, every page lists its ids and nothing unreadable. */
  @Test
  public void kekIdsOfAHealthyStoreReportNothingUnreadable() throws Exception {
    for (String id : List.of("m", "b", "z", "a/x")) {
      assertThat(store.create(record(id, 1).build())).isTrue();
    }
    assertThat(store.create(record("z", 2).build())).isTrue();

    for (int pass = 0; pass < 2; pass++) {
      KekIdPage whole = store.kekIds("", 100);
      assertThat(whole.ids()).containsExactly("a/x", "b", "m", "z");
      assertThat(whole.unreadable()).isEmpty();
      assertThat(whole.hasMore()).isFalse();
      for (String after : List.of("", "a/x", "b", "m")) {
        assertThat(store.kekIds(after, 1).unreadable()).as("after %s", after).isEmpty();
      }
      store = reopened();
    }
  }

  /**
   * Pages follow code point order, the one order every store shares: U+FFFD sorts before U+1F511
   * (which {@link String#compareTo} puts first, its UTF-16 surrogates being below U+E000). Every
   * page size walks the same ids; a page is full unless it is the last; {@code after} need not
   * exist.
   */
  @Test
  public void kekIdsPageInCodePointOrder() throws Exception {
    List<String> expected =
        List.of(
            "x",
            "x-",
            "x\u00e9",
            "x\u0800",
            "x\uE000",
            "x\uFFFD",
            "x\uD83D\uDD11", // U+1F511
            "x\uD83D\uDD11z",
            "x\uDBFF\uDFFF", // U+10FFFF
            "y");
    List<String> shuffled = new ArrayList<>(expected);
    java.util.Collections.shuffle(shuffled, new java.util.Random(24));
    for (String id : shuffled) {
      assertThat(store.create(record(id, 1).build())).as("create %s", codePoints(id)).isTrue();
    }
    assertThat(store.create(record("x\uFFFD", 2).build())).isTrue();
    assertThat("x\uFFFD".compareTo("x\uD83D\uDD11"))
        .as("String order differs from code point order here")
        .isPositive();

    for (int pass = 0; pass < 2; pass++) {
      for (int limit : new int[] {1, 2, 3, 9, 10, 11, 1000}) {
        assertThat(allIds(limit))
            .as("pages of %s, pass %s", limit, pass)
            .containsExactlyElementsOf(expected);
      }
      // after an id that is not stored, between U+E000 and U+FFFD
      assertThat(store.kekIds("x\uF000", 2).ids()).containsExactly("x\uFFFD", "x\uD83D\uDD11");
      assertThat(store.kekIds("x\uF000", 2).hasMore()).isTrue();
      assertThat(store.kekIds("x\uDBFF\uDFFF", 5).ids()).containsExactly("y");
      assertThat(store.kekIds("x\uDBFF\uDFFF", 5).hasMore()).isFalse();
      assertThat(store.kekIds("y", 5).ids()).isEmpty();
      assertThat(store.kekIds("zzz", 5).hasMore()).isFalse();
      store = reopened();
    }
  }

  /** Ids created while a caller pages show up on a later page if they sort after its position. */
  @Test
  public void idsCreatedWhilePagingAfterThePositionAreListed() throws Exception {
    for (String id : List.of("b", "d", "f")) {
      assertThat(store.create(record(id, 1).build())).isTrue();
    }
    KekIdPage first = store.kekIds("", 2);
    assertThat(first.ids()).containsExactly("b", "d");
    assertThat(first.hasMore()).isTrue();
    assertThat(store.create(record("a", 1).build())).isTrue(); // before the position
    assertThat(store.create(record("e", 1).build())).isTrue(); // after it
    KekIdPage second = store.kekIds("d", 2);
    assertThat(second.ids()).containsExactly("e", "f");
    assertThat(store.kekIds("f", 2).ids()).isEmpty();
    assertThat(allIds(1)).containsExactly("a", "b", "d", "e", "f");
  }

  /** Bad page arguments are refused before anything is read. */
  @Test
  public void kekIdsRejectsBadArguments() {
    assertThat(store.create(record("present", 1).build())).isTrue();
    assertThatThrownBy(() -> store.kekIds("", 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.kekIds("", -1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.kekIds(null, 1)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> store.kekIds("lone-\uD800", 1))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.kekIds("bad\nline", 1))
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(store.kekIds("", Integer.MAX_VALUE).ids()).containsExactly("present");
  }

  /** A second create of an existing id and version loses and changes nothing. */
  @Test
  public void duplicateCreateReturnsFalseAndKeepsFirst() throws Exception {
    KeyEncryptionKey first = record("dup", 1).build();
    KeyEncryptionKey second =
        record("dup", 1).cmkUri(OTHER_CMK).wrappedMaterial(material(99)).build();

    assertThat(store.create(first)).isTrue();
    assertThat(store.create(second)).isFalse();

    assertStored(first);
  }

  /** New records start at revision 1. */
  @Test
  public void createRejectsRevisionOtherThanOne() {
    KeyEncryptionKey record = record("rev", 1).revision(2).build();

    assertThatThrownBy(() -> store.create(record)).isInstanceOf(IllegalArgumentException.class);
    assertThat(store.find("rev", 1)).isEmpty();
  }

  /** Looking up what was never written is empty, not an error. */
  @Test
  public void findOfUnknownIdOrVersionIsEmpty() {
    assertThat(store.create(record("known", 1).build())).isTrue();

    assertThat(store.find("unknown", 1)).isEmpty();
    assertThat(store.find("known", 2)).isEmpty();
    assertThat(store.versions("unknown")).isEmpty();
  }

  /** An empty store lists nothing. */
  @Test
  public void emptyStoreHasNoKekIds() {
    assertThat(allIds()).isEmpty();
  }

  /** Versions come oldest first, numerically (10 after 9), whatever order they were written in. */
  @Test
  public void versionsAreOldestFirst() throws Exception {
    int[] order = {3, 1, 10, 2, 9};
    for (int version : order) {
      assertThat(store.create(record("multi", version).build())).isTrue();
    }
    assertThat(store.create(record("other", 4).build())).isTrue();

    for (int pass = 0; pass < 2; pass++) {
      assertThat(store.versions("multi"))
          .extracting(KeyEncryptionKey::version)
          .containsExactly(1, 2, 3, 9, 10);
      store = reopened();
    }
  }

  /** Ids come sorted, each once however many versions it has. */
  @Test
  public void kekIdsAreSortedAndDistinct() throws Exception {
    for (String id : List.of("m", "b", "z", "a/x", "b")) {
      int version = store.versions(id).size() + 1;
      assertThat(store.create(record(id, version).build())).isTrue();
    }
    assertThat(store.create(record("z", 2).build())).isTrue();

    for (int pass = 0; pass < 2; pass++) {
      assertThat(allIds()).containsExactly("a/x", "b", "m", "z");
      store = reopened();
    }
  }

  /** Compare-and-set on the stored revision replaces the record. */
  @Test
  public void compareAndSetSucceedsOnCurrentRevision() throws Exception {
    KeyEncryptionKey v1 = record("cas", 1).build();
    store.create(v1);
    KeyEncryptionKey r2 = next(v1).state(KekState.DISABLED).build();
    KeyEncryptionKey r3 = next(r2).state(KekState.DESTROYED).wrappedMaterial(new byte[0]).build();

    assertThat(store.compareAndSet(1, r2)).isTrue();
    assertThat(store.compareAndSet(2, r3)).isTrue();

    assertStored(r3);
  }

  /** A writer holding an old revision loses and changes nothing. */
  @Test
  public void compareAndSetFailsOnStaleRevision() throws Exception {
    KeyEncryptionKey v1 = record("stale", 1).build();
    store.create(v1);
    KeyEncryptionKey r2 = next(v1).state(KekState.DISABLED).build();
    assertThat(store.compareAndSet(1, r2)).isTrue();

    KeyEncryptionKey fromStaleRead = next(v1).cmkUri(OTHER_CMK).build();
    assertThat(store.compareAndSet(1, fromStaleRead)).isFalse();

    assertStored(r2);
  }

  /** Compare-and-set never creates a record. */
  @Test
  public void compareAndSetFailsOnMissingRecord() throws Exception {
    KeyEncryptionKey r2 = record("missing", 1).revision(2).build();

    assertThat(store.compareAndSet(1, r2)).isFalse();

    assertThat(store.find("missing", 1)).isEmpty();
    store = reopened();
    assertThat(store.find("missing", 1)).isEmpty();
  }

  /** The next revision must be exactly one more than the expected one. */
  @Test
  public void compareAndSetRejectsRevisionGap() throws Exception {
    KeyEncryptionKey v1 = record("gap", 1).build();
    store.create(v1);

    assertThatThrownBy(() -> store.compareAndSet(1, v1.toBuilder().revision(3).build()))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.compareAndSet(1, v1))
        .isInstanceOf(IllegalArgumentException.class);

    assertStored(v1);
  }

  /** Versions of one KEK are separate records with separate revisions. */
  @Test
  public void compareAndSetChangesOnlyItsOwnVersion() throws Exception {
    KeyEncryptionKey v1 = record("pair", 1).build();
    KeyEncryptionKey v2 = record("pair", 2).build();
    store.create(v1);
    store.create(v2);

    KeyEncryptionKey v1r2 = next(v1).state(KekState.DISABLED).build();
    assertThat(store.compareAndSet(1, v1r2)).isTrue();

    assertStored(v1r2);
    assertStored(v2);
  }

  /** Null arguments are programming errors. */
  @Test
  public void nullArgumentsAreRejected() {
    assertThatThrownBy(() -> store.find(null, 1)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> store.versions(null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> store.create(null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> store.compareAndSet(1, null)).isInstanceOf(NullPointerException.class);
  }

  /**
   * {@value #THREADS} threads read the same revision, then all try to write the next one: exactly
   * one wins each round, and after {@value #ROUNDS} rounds the revision is {@value #ROUNDS} + 1.
   */
  @Test
  public void racingCompareAndSetsFromOneReadLetExactlyOneWinPerRevision() throws Exception {
    KeyEncryptionKey v1 = record("race", 1).build();
    store.create(v1);
    KeyEncryptionKey[] winners = new KeyEncryptionKey[ROUNDS];
    AtomicInteger[] winsPerRound = new AtomicInteger[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
      winsPerRound[i] = new AtomicInteger();
    }
    CyclicBarrier readDone = new CyclicBarrier(THREADS);
    CyclicBarrier roundDone = new CyclicBarrier(THREADS);

    runThreads(
        thread -> {
          for (int round = 0; round < ROUNDS; round++) {
            KeyEncryptionKey read = store.find("race", 1).orElseThrow();
            readDone.await(RACE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            KeyEncryptionKey mine =
                next(read)
                    .state(thread % 2 == 0 ? KekState.ENABLED : KekState.DISABLED)
                    .updatedAt(T0.plusSeconds(round).plusNanos(thread))
                    .build();
            if (store.compareAndSet(read.revision(), mine)) {
              winsPerRound[round].incrementAndGet();
              winners[round] = mine; // published by the barrier below
            }
            roundDone.await(RACE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
          }
          return null;
        });

    int wins = 0;
    for (int round = 0; round < ROUNDS; round++) {
      assertThat(winsPerRound[round].get()).as("winners of round %s", round).isEqualTo(1);
      assertThat(winners[round].revision()).isEqualTo(round + 2L);
      wins += winsPerRound[round].get();
    }
    assertThat(wins).isEqualTo(ROUNDS);
    assertStored(winners[ROUNDS - 1]);
    assertThat(store.find("race", 1).orElseThrow().revision()).isEqualTo(wins + 1L);
  }

  /** {@value #THREADS} threads create the same id and version at once: exactly one wins. */
  @Test
  public void racingCreatesOfOneVersionLetExactlyOneWin() throws Exception {
    int versions = 20;
    KeyEncryptionKey[] winners = new KeyEncryptionKey[versions];
    AtomicInteger[] winsPerVersion = new AtomicInteger[versions];
    for (int i = 0; i < versions; i++) {
      winsPerVersion[i] = new AtomicInteger();
    }
    CyclicBarrier start = new CyclicBarrier(THREADS);

    runThreads(
        thread -> {
          for (int v = 0; v < versions; v++) {
            KeyEncryptionKey mine =
                record("created-race", v + 1).wrappedMaterial(material(thread)).build();
            start.await(RACE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            if (store.create(mine)) {
              winsPerVersion[v].incrementAndGet();
              winners[v] = mine; // read after the threads are joined
            }
          }
          return null;
        });

    for (int v = 0; v < versions; v++) {
      assertThat(winsPerVersion[v].get()).as("winners of version %s", v + 1).isEqualTo(1);
    }
    for (KeyEncryptionKey winner : winners) {
      assertStored(winner);
    }
  }

  /** Every acknowledged create and update is there after a reopen. */
  @Test
  public void acknowledgedWritesSurviveReopen() throws Exception {
    List<KeyEncryptionKey> expected = new ArrayList<>();
    for (int i = 0; i < 10; i++) {
      KeyEncryptionKey created = record("durable-" + i, 1 + i % 3).build();
      assertThat(store.create(created)).isTrue();
      KeyEncryptionKey current = created;
      for (int update = 0; update < i % 4; update++) {
        KeyEncryptionKey next =
            next(current).state(update % 2 == 0 ? KekState.DISABLED : KekState.ENABLED).build();
        assertThat(store.compareAndSet(current.revision(), next)).isTrue();
        current = next;
      }
      expected.add(current);
    }

    store = reopened();

    for (KeyEncryptionKey record : expected) {
      assertThat(store.find(record.id(), record.version())).as("after reopen").contains(record);
    }
    assertThat(allIds()).hasSize(10);
  }

  // ---------------------------------------------------------------- heads

  /** A head comes back equal in every field, before and after a reopen. */
  @Test
  public void createHeadThenHeadReturnsEqualHead() throws Exception {
    store.create(record("headed", 1).build());
    KekHead h = head("headed").build();
    assertThat(store.createHead(h)).isTrue();
    assertThat(store.head("headed")).contains(h);
    store = reopened();
    assertThat(store.head("headed")).as("after reopen").contains(h);
  }

  /** Every head state, a destruction time and a minimum decryption version round-trip. */
  @Test
  public void everyHeadStateRoundTrips() throws Exception {
    int i = 0;
    for (KekState state : KekState.values()) {
      if (state == KekState.RETIRED) {
        continue;
      }
      String id = "head-state-" + i++;
      store.create(record(id, 1).build());
      store.create(record(id, 2).build());
      KekHead h =
          head(id)
              .state(state)
              .primaryVersion(2)
              .minimumDecryptionVersion(2)
              .cmkUri(OTHER_CMK)
              .destroyAt(state == KekState.PENDING_DESTRUCTION ? T0.plusNanos(7) : null)
              .build();
      assertThat(store.createHead(h)).isTrue();
      assertThat(store.head(id)).as("%s", state).contains(h);
    }
  }

  /** A KEK without a head (none created yet, or the layout before heads) has an empty head. */
  @Test
  public void headOfKekWithoutHeadIsEmpty() throws Exception {
    assertThat(store.head("nothing")).isEmpty();
    store.create(record("headless", 1).build());
    assertThat(store.head("headless")).isEmpty();
  }

  /** A second createHead of one KEK returns false and keeps the first head. */
  @Test
  public void duplicateCreateHeadReturnsFalseAndKeepsFirst() throws Exception {
    store.create(record("head-dup", 1).build());
    KekHead first = head("head-dup").build();
    assertThat(store.createHead(first)).isTrue();
    assertThat(store.createHead(head("head-dup").state(KekState.DISABLED).build())).isFalse();
    assertThat(store.head("head-dup")).contains(first);
  }

  /** compareAndSetHead succeeds on the current revision and fails on a stale one or no head. */
  @Test
  public void compareAndSetHeadSucceedsOnlyOnCurrentRevision() throws Exception {
    store.create(record("head-cas", 1).build());
    KekHead h1 = head("head-cas").build();
    store.createHead(h1);
    KekHead h2 = h1.toBuilder().state(KekState.DISABLED).revision(2).build();
    assertThat(store.compareAndSetHead(1, h2)).isTrue();
    KekHead stale = h1.toBuilder().minimumDecryptionVersion(1).revision(2).build();
    assertThat(store.compareAndSetHead(1, stale)).isFalse();
    assertThat(store.head("head-cas")).contains(h2);
    assertThat(store.compareAndSetHead(1, head("no-head").revision(2).build())).isFalse();
    assertThat(store.head("no-head")).isEmpty();
    assertThatThrownBy(() -> store.compareAndSetHead(2, h2.toBuilder().revision(4).build()))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.createHead(h2)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> store.createHead(null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> store.compareAndSetHead(1, null))
        .isInstanceOf(NullPointerException.class);
  }

  /** Heads of two KEKs are independent, and a head write changes no version record. */
  @Test
  public void headWritesTouchOnlyTheirOwnHead() throws Exception {
    KeyEncryptionKey a1 = record("head-a", 1).build();
    store.create(a1);
    store.create(record("head-b", 1).build());
    KekHead a = head("head-a").build();
    KekHead b = head("head-b").build();
    store.createHead(a);
    store.createHead(b);
    assertThat(
            store.compareAndSetHead(1, a.toBuilder().state(KekState.DISABLED).revision(2).build()))
        .isTrue();
    assertThat(store.head("head-b")).contains(b);
    assertThat(store.find("head-a", 1)).contains(a1);
  }

  /**
   * {@value #THREADS} threads read the same head revision, then all try to write the next one:
   * exactly one wins each round.
   */
  @Test
  public void racingHeadCompareAndSetsLetExactlyOneWinPerRevision() throws Exception {
    store.create(record("head-race", 1).build());
    store.createHead(head("head-race").build());
    AtomicInteger[] winsPerRound = new AtomicInteger[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
      winsPerRound[i] = new AtomicInteger();
    }
    CyclicBarrier readDone = new CyclicBarrier(THREADS);
    CyclicBarrier roundDone = new CyclicBarrier(THREADS);
    runThreads(
        thread -> {
          for (int round = 0; round < ROUNDS; round++) {
            KekHead read = store.head("head-race").orElseThrow();
            readDone.await(RACE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            KekHead mine =
                read.toBuilder()
                    .state(thread % 2 == 0 ? KekState.ENABLED : KekState.DISABLED)
                    .updatedAt(T0.plusSeconds(round).plusNanos(thread))
                    .revision(read.revision() + 1)
                    .build();
            if (store.compareAndSetHead(read.revision(), mine)) {
              winsPerRound[round].incrementAndGet();
            }
            roundDone.await(RACE_TIMEOUT_SECONDS, TimeUnit.SECONDS);
          }
          return null;
        });
    for (int round = 0; round < ROUNDS; round++) {
      assertThat(winsPerRound[round].get()).as("winners of round %s", round).isEqualTo(1);
    }
    assertThat(store.head("head-race").orElseThrow().revision()).isEqualTo(ROUNDS + 1L);
  }

  private static KekHead.Builder head(String id) {
    return KekHead.builder().id(id).cmkUri(CMK).updatedAt(T0);
  }

  /** Asserts that the store holds exactly {@code record}, before and after a reopen. */
  private void assertStored(KeyEncryptionKey record) throws Exception {
    assertThat(store.find(record.id(), record.version())).as("find").contains(record);
    store = reopened();
    assertThat(store.find(record.id(), record.version())).as("find after reopen").contains(record);
    assertThat(store.versions(record.id())).as("versions after reopen").contains(record);
    assertThat(allIds()).as("ids after reopen").contains(record.id());
  }

  /** Every id, walked in pages of 7 (so that some tests cross page ends). */
  private List<String> allIds() {
    return allIds(7);
  }

  /** Every id, walked in pages of {@code limit}, checking what each page promises. */
  private List<String> allIds(int limit) {
    List<String> all = new ArrayList<>();
    String after = "";
    for (int pages = 0; ; pages++) {
      assertThat(pages).as("pages of %s so far", limit).isLessThan(100_000);
      KekIdPage page = store.kekIds(after, limit);
      assertThat(page.ids()).as("page after %s", codePoints(after)).hasSizeLessThanOrEqualTo(limit);
      for (String id : page.ids()) {
        assertThat(KekIdPage.ORDER.compare(after, id))
            .as("%s listed after %s", codePoints(id), codePoints(after))
            .isNegative();
        after = id;
      }
      all.addAll(page.ids());
      if (!page.hasMore()) {
        return all;
      }
      assertThat(page.ids()).as("a page that says more follow is full").hasSize(limit);
    }
  }

  private static List<String> codePoints(String id) {
    return id.codePoints().mapToObj(Integer::toHexString).toList();
  }

  private KekStore reopened() throws Exception {
    return track(reopen(store));
  }

  private KeyManager track(KeyManager keys) {
    assertThat(keys).as("key manager").isNotNull();
    return keys;
  }

  /**
   * A double over the store under test that answers reads for {@code asked} with the records of
   * {@code answered}, as a store that merges the two ids would.
   */
  private static final class AliasingStore implements KekStore {
    private final KekStore store;
    private final String asked;
    private final String answered;

    AliasingStore(KekStore store, String asked, String answered) {
      this.store = store;
      this.asked = asked;
      this.answered = answered;
    }

    private String alias(String id) {
      return id.equals(asked) ? answered : id;
    }

    @Override
    public Optional<KeyEncryptionKey> find(String kekId, int version) {
      return store.find(alias(kekId), version);
    }

    @Override
    public List<KeyEncryptionKey> versions(String kekId) {
      return store.versions(alias(kekId));
    }

    @Override
    public KekIdPage kekIds(String after, int limit) {
      return store.kekIds(after, limit);
    }

    @Override
    public boolean create(KeyEncryptionKey record) {
      return store.create(record);
    }

    @Override
    public boolean compareAndSet(long expectedRevision, KeyEncryptionKey next) {
      return store.compareAndSet(expectedRevision, next);
    }

    @Override
    public Optional<KekHead> head(String kekId) {
      return store.head(alias(kekId));
    }

    @Override
    public boolean createHead(KekHead head) {
      return store.createHead(head);
    }

    @Override
    public boolean compareAndSetHead(long expectedRevision, KekHead next) {
      return store.compareAndSetHead(expectedRevision, next);
    }

    @Override
    public void close() {
      // the store under test is closed by the suite
    }

    @Override
    public String toString() {
      return "AliasingStore[" + asked + " -> " + answered + "]";
    }
  }

  private KekStore track(KekStore s) {
    assertThat(s).as("store").isNotNull();
    if (!opened.contains(s)) {
      opened.add(s);
    }
    return s;
  }

  private interface ThreadBody {
    Void run(int thread) throws Exception;
  }

  /** Runs {@code body} on {@value #THREADS} threads and rethrows the first failure. */
  private static void runThreads(ThreadBody body) throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(THREADS);
    try {
      List<Future<Void>> futures = new ArrayList<>();
      for (int t = 0; t < THREADS; t++) {
        int thread = t;
        futures.add(pool.submit((Callable<Void>) () -> body.run(thread)));
      }
      for (Future<Void> f : futures) {
        f.get(RACE_TIMEOUT_SECONDS * 4, TimeUnit.SECONDS);
      }
    } finally {
      pool.shutdownNow();
      assertThat(pool.awaitTermination(RACE_TIMEOUT_SECONDS, TimeUnit.SECONDS)).isTrue();
    }
  }

  private static KeyEncryptionKey.Builder record(String id, int version) {
    return KeyEncryptionKey.builder()
        .id(id)
        .version(version)
        .cmkUri(CMK)
        .wrappedMaterial(material(version))
        .createdAt(T0);
  }

  private static KeyEncryptionKey.Builder next(KeyEncryptionKey current) {
    return current.toBuilder().revision(current.revision() + 1).updatedAt(T0.plusSeconds(60));
  }

  private static byte[] material(int seed) {
    byte[] bytes = ("wrapped-material-" + seed + "-").repeat(3).getBytes(StandardCharsets.UTF_8);
    bytes[0] = (byte) seed; // not all text: exercise every byte value a little
    return bytes;
  }
}
