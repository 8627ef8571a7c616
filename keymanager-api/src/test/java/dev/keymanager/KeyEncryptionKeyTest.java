package dev.keymanager;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.time.Instant;
import org.junit.jupiter.api.Test;

class KeyEncryptionKeyTest {
  private static final URI CMK = URI.create("fake-kms://main");

  private static KeyEncryptionKey.Builder base() {
    return KeyEncryptionKey.builder()
        .id("orders")
        .cmkUri(CMK)
        .wrappedMaterial(new byte[] {1, 2, 3})
        .createdAt(Instant.EPOCH);
  }

  @Test
  void materialIsCopiedInAndOut() {
    byte[] material = {1, 2, 3};
    KeyEncryptionKey kek = base().wrappedMaterial(material).build();
    material[0] = 9;
    kek.wrappedMaterial()[1] = 9;

    assertThat(kek.wrappedMaterial()).containsExactly(1, 2, 3);
  }

  @Test
  void destroyedRecordsHaveNoMaterialAndOthersDo() {
    assertThatThrownBy(() -> base().state(KekState.DESTROYED).build())
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> base().wrappedMaterial(new byte[0]).build())
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(base().state(KekState.DESTROYED).wrappedMaterial(new byte[0]).build().state())
        .isEqualTo(KekState.DESTROYED);
  }

  @Test
  void pendingDestructionNeedsADueTime() {
    assertThatThrownBy(() -> base().state(KekState.PENDING_DESTRUCTION).build())
        .isInstanceOf(IllegalArgumentException.class);
    assertThat(
            base()
                .state(KekState.PENDING_DESTRUCTION)
                .destroyAt(Instant.EPOCH.plusSeconds(60))
                .build()
                .destroyAt())
        .contains(Instant.EPOCH.plusSeconds(60));
  }

  @Test
  void toBuilderRoundTripsAndToStringHidesMaterial() {
    KeyEncryptionKey kek = base().version(2).revision(5).build();

    assertThat(kek.toBuilder().build()).isEqualTo(kek);
    assertThat(kek.toString()).contains("orders v2").contains("3 bytes").doesNotContain("[1, 2");
  }

  @Test
  void invalidIdsAndVersionsAreProgrammingErrors() {
    assertThatThrownBy(() -> base().id("")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> base().id("a\nb")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> base().id("x".repeat(256)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> base().version(0).build())
        .isInstanceOf(IllegalArgumentException.class);
  }
}
