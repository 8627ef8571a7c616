package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keymanager.KekDescription;
import dev.keymanager.KekState;
import dev.keymanager.KeyEncryptionKey;
import dev.keymanager.KeyManager;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekHead;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.net.URI;
import java.time.Duration;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * A lifecycle call returns the state its own write produced, even when another node's destruction
 * lands right after that write and erases the material before the call returns (found by {@code
 * LifecycleRaceTest}: a scheduled destruction's description showed a retired version as destroyed
 * and the minimum decryption version as 1).
 */
class ReturnedDescriptionTest {
  private static final URI CMK = FakeKms.cmk("returned");
  private static final URI OTHER_CMK = FakeKms.cmk("returned-other");

  private final FakeKms kms = new FakeKms();
  private final KekStore shared = KekStores.inMemory();
  private final KeyManager other = node(shared);
  private Consumer<KekHead> afterHeadWrite = h -> {};
  private final KeyManager keys =
      node(
          new ForwardingKekStore(shared) {
            @Override
            public boolean compareAndSetHead(long expectedRevision, KekHead next) {
              boolean written = super.compareAndSetHead(expectedRevision, next);
              if (written) {
                Consumer<KekHead> hook = afterHeadWrite;
                afterHeadWrite = h -> {};
                hook.accept(next);
              }
              return written;
            }
          });

  private KeyManager node(KekStore store) {
    return KeyManagers.builder()
        .kekStore(store)
        .kmsProvider(kms)
        .discoverProviders(false)
        .minimumDestructionWindow(Duration.ZERO)
        .build();
  }

  @AfterEach
  void close() {
    keys.close();
    other.close();
  }

  private void retiredKek() {
    keys.admin().createKek("k", CMK);
    keys.admin().rotateKek("k");
    keys.admin().setMinimumDecryptionVersion("k", 2);
  }

  @Test
  void aScheduledDestructionShowsItsOwnWriteNotTheDestructionAfterIt() {
    retiredKek();
    afterHeadWrite = h -> other.admin().destroyKek("k"); // erases every version's material

    KekDescription scheduled = keys.admin().scheduleKekDestruction("k", Duration.ZERO);

    assertThat(scheduled.state()).isEqualTo(KekState.PENDING_DESTRUCTION);
    assertThat(scheduled.minimumDecryptionVersion()).isEqualTo(2);
    assertThat(scheduled.versions())
        .extracting(KeyEncryptionKey::state)
        .containsExactly(KekState.RETIRED, KekState.PENDING_DESTRUCTION);
    assertThat(other.admin().describeKekVersions("k").orElseThrow().state())
        .isEqualTo(KekState.DESTROYED);
  }

  @Test
  void aChangeOfCmkShowsTheRecordsItWrote() {
    retiredKek();
    afterHeadWrite =
        h -> {
          other.admin().scheduleKekDestruction("k", Duration.ZERO);
          other.admin().destroyKek("k");
        };

    KekDescription moved = keys.admin().changeCmk("k", OTHER_CMK);

    assertThat(moved.state()).isEqualTo(KekState.ENABLED);
    assertThat(moved.minimumDecryptionVersion()).isEqualTo(2);
    assertThat(moved.versions())
        .extracting(KeyEncryptionKey::state)
        .containsExactly(KekState.RETIRED, KekState.ENABLED);
  }
}
