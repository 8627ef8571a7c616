package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KekRef;
import dev.keymanager.KekStateException;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekChangeListener;
import dev.keymanager.spi.KekChangeSubscription;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A key manager following its store's change feed: two key managers share one store, the writer
 * changes KEKs, and the follower hears of it only through the notices this test delivers, playing
 * the store's feed (the in-memory store has none). The clock never moves, so nothing but a notice
 * can make the follower drop what it cached.
 */
class StoreChangeFollowerTest {
  private static final URI CMK = FakeKms.cmk("follow");
  private static final KeyContext CONTEXT = KeyContext.of("table", "follow");

  private final FakeKms kms = new FakeKms();
  private final MutableClock clock = new MutableClock();
  private final KekStore shared = KekStores.inMemory();
  private final FeedStore feedStore = new FeedStore(shared);
  private final List<KeyManager> opened = new ArrayList<>();
  private final KeyManager writer = open(builder(shared));

  /** The shared store with a change feed whose notices the test sends. */
  static final class FeedStore extends ForwardingKekStore {
    KekChangeListener listener;
    int closedSubscriptions;

    FeedStore(KekStore delegate) {
      super(delegate);
    }

    @Override
    public Optional<KekChangeSubscription> subscribe(KekChangeListener l) {
      assertThat(listener).as("one subscription").isNull();
      listener = l;
      return Optional.of(() -> closedSubscriptions++);
    }
  }

  @AfterEach
  void closeAll() {
    opened.forEach(KeyManager::close);
  }

  private KeyManagers.Builder builder(KekStore store) {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(kms)
        .discoverProviders(false)
        .hardTtl(Duration.ofMinutes(5))
        .clock(clock);
  }

  private KeyManager open(KeyManagers.Builder builder) {
    KeyManager keys = builder.build();
    opened.add(keys);
    return keys;
  }

  @Test
  void aHeadNoticeMakesAnotherWritersDisableTakeEffectAtOnceForNewAndOpenHandles() {
    KeyManager follower = open(builder(feedStore));
    writer.admin().createKek("k", CMK);
    DataKey held = follower.generateDek("k", CONTEXT);

    writer.admin().disableKek("k");
    follower.generateDek("k", CONTEXT).close(); // no notice yet: the cache still serves it
    held.use(bytes -> bytes.length);

    feedStore.listener.headChanged("k");

    assertThatThrownBy(() -> follower.generateDek("k", CONTEXT))
        .isInstanceOf(KekStateException.class)
        .hasMessageContaining("DISABLED");
    assertThatThrownBy(() -> held.use(bytes -> bytes.length)).isInstanceOf(KekStateException.class);
  }

  @Test
  void aHeadNoticeAfterARotationMakesNewDeksWrapUnderTheNewVersion() {
    KeyManager follower = open(builder(feedStore));
    writer.admin().createKek("k", CMK);
    WrappedKey old;
    try (DataKey dek = follower.generateDek("k", CONTEXT)) {
      old = dek.wrappedKey();
    }

    writer.admin().rotateKek("k");
    feedStore.listener.versionChanged(new KekRef("k", 2)); // as the store announces a rotation
    feedStore.listener.headChanged("k");

    try (DataKey dek = follower.generateDek("k", CONTEXT)) {
      assertThat(dek.wrappedKey().kek()).isEqualTo(new KekRef("k", 2));
    }
    follower.unwrapDek(old, CONTEXT).close();
  }

  @Test
  void aVersionNoticeDropsThatVersionOnly() {
    DefaultKeyManager follower = (DefaultKeyManager) open(builder(feedStore));
    writer.admin().createKek("a", CMK);
    writer.admin().createKek("b", CMK);
    follower.generateDek("a", CONTEXT).close();
    follower.generateDek("b", CONTEXT).close();
    kms.resetCounts();

    feedStore.listener.versionChanged(new KekRef("a", 1));
    follower.generateDek("a", CONTEXT).close();
    follower.generateDek("b", CONTEXT).close();

    assertThat(kms.unwrapCalls()).isEqualTo(1); // a again; b still cached
    assertThat(follower.storeNotices()).isEqualTo(1);
  }

  @Test
  void aFeedThatMayHaveMissedNoticesDropsEverything() {
    KeyManager follower = open(builder(feedStore));
    writer.admin().createKek("a", CMK);
    writer.admin().createKek("b", CMK);
    follower.generateDek("a", CONTEXT).close();
    follower.generateDek("b", CONTEXT).close();
    writer.admin().disableKek("a");
    writer.admin().disableKek("b");

    feedStore.listener.changesMayHaveBeenMissed();

    for (String id : List.of("a", "b")) {
      assertThatThrownBy(() -> follower.generateDek(id, CONTEXT))
          .isInstanceOf(KekStateException.class);
    }
  }

  @Test
  void closingTheKeyManagerEndsItsSubscription() {
    KeyManager follower = open(builder(feedStore));
    assertThat(feedStore.listener).isNotNull();

    follower.close();
    follower.close();

    assertThat(feedStore.closedSubscriptions).isEqualTo(1);
  }

  @Test
  void storeChangeNoticesOffIgnoresTheFeed() {
    DefaultKeyManager follower =
        (DefaultKeyManager) open(builder(feedStore).storeChangeNotices(false));
    writer.admin().createKek("k", CMK);
    follower.generateDek("k", CONTEXT).close();

    assertThat(feedStore.listener).isNull();
    assertThat(follower.storeNotices()).isEqualTo(-1);
    writer.admin().disableKek("k");
    follower.generateDek("k", CONTEXT).close(); // within the hard TTL, as without a feed
  }
}
