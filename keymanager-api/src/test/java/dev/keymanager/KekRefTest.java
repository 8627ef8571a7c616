package dev.keymanager;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class KekRefTest {
  @Test
  void unpairedSurrogatesAreRejectedWhereverTheyStand() {
    for (String id :
        List.of(
            "lone-\uD800",
            "tenant-\uDC00",
            "\uD800",
            "\uDFFF-x",
            "reversed-\uDC00\uD800",
            "two-highs-\uD83D\uD83D\uDD11")) {
      assertThatThrownBy(() -> KekRef.checkId(id))
          .as("id %s", id.codePoints().mapToObj(Integer::toHexString).toList())
          .isInstanceOf(IllegalArgumentException.class)
          .hasMessageContaining("unpaired UTF-16 surrogate");
      assertThatThrownBy(() -> new KekRef(id, 1)).isInstanceOf(IllegalArgumentException.class);
    }
  }

  @Test
  void wellFormedSurrogatePairsAreAccepted() {
    assertThat(KekRef.checkId("key-\uD83D\uDD11")).isEqualTo("key-🔑");
    assertThat(KekRef.checkId("\uD800\uDC00")).isEqualTo("\uD800\uDC00"); // U+10000
  }

  @Test
  void aRejectedIdWouldHaveCollidedWithAnotherOnceEncoded() {
    // Why the check exists: UTF-8 encoders turn a lone surrogate into '?', another valid id.
    assertThat(new String("lone-\uD800".getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8))
        .isEqualTo("lone-?");
    assertThat(KekRef.checkId("lone-?")).isEqualTo("lone-?");
  }

  @Test
  void idsAreNotNormalised() {
    String precomposed = "caf\u00e9";
    String decomposed = "cafe\u0301";
    assertThat(KekRef.checkId(precomposed)).isEqualTo(precomposed);
    assertThat(KekRef.checkId(decomposed)).isEqualTo(decomposed);
    assertThat(new KekRef(precomposed, 1)).isNotEqualTo(new KekRef(decomposed, 1));
  }

  @Test
  void lengthIsCountedInUtf8BytesOfTheWellFormedId() {
    assertThat(KekRef.checkId("🔑".repeat(63) + "abc")).hasSize(129); // 252 + 3 bytes
    assertThatThrownBy(() -> KekRef.checkId("🔑".repeat(64)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("255");
  }

  @Test
  void emptyAndControlCharactersStayRejected() {
    assertThatThrownBy(() -> KekRef.checkId("")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> KekRef.checkId("a\nb")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> KekRef.checkId(null)).isInstanceOf(NullPointerException.class);
  }
}
