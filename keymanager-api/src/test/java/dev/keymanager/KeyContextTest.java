package dev.keymanager;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class KeyContextTest {

  @Test
  void encodingIsIndependentOfInsertionOrder() {
    Map<String, String> a = new LinkedHashMap<>();
    a.put("tenant", "acme");
    a.put("table", "orders");
    Map<String, String> b = new LinkedHashMap<>();
    b.put("table", "orders");
    b.put("tenant", "acme");

    assertThat(KeyContext.of(a)).isEqualTo(KeyContext.of(b));
    assertThat(KeyContext.of(a).encode()).isEqualTo(KeyContext.of(b).encode());
    assertThat(KeyContext.of(a).entries().keySet()).containsExactly("table", "tenant");
  }

  @Test
  void encodingMatchesTheGoldenVector() {
    // version 1, 2 entries; "a" -> "1", "b" -> "" ; keys sorted by UTF-8 bytes.
    KeyContext context = KeyContext.of(Map.of("b", "", "a", "1"));

    assertThat(HexFormat.of().formatHex(context.encode()))
        .isEqualTo("01" + "0002" + "0001" + "61" + "00000001" + "31" + "0001" + "62" + "00000000");
    assertThat(HexFormat.of().formatHex(KeyContext.empty().encode())).isEqualTo("010000");
  }

  @Test
  void keysSortByUtf8BytesNotUtf16() {
    // U+FF61 sorts before U+1F600 in UTF-16 code units but after it in UTF-8 bytes? No: EF BD A1
    // < F0 9F 98 80 in UTF-8, and FF61 > D83D in UTF-16. The two orders disagree; UTF-8 wins.
    KeyContext context = KeyContext.of(Map.of("\uD83D\uDE00", "x", "\uFF61", "y"));

    assertThat(context.entries().keySet()).containsExactly("\uFF61", "\uD83D\uDE00");
  }

  @Test
  void toStringShowsKeysButNeverValues() {
    KeyContext context = KeyContext.of("customer", "secret-customer-name");

    assertThat(context.toString()).contains("customer").doesNotContain("secret-customer-name");
  }

  @Test
  void rejectsEmptyKeysAndOversizedValues() {
    assertThatThrownBy(() -> KeyContext.of("", "v")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> KeyContext.of("k", "x".repeat(KeyContext.MAX_LENGTH + 1)))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void encodeReturnsACopy() {
    KeyContext context = KeyContext.of("k", "v");
    byte[] first = context.encode();
    first[0] = 9;

    assertThat(context.encode()[0]).isEqualTo((byte) 1);
  }

  @Test
  void builderMakesTheSameContextAsTheMapFactoryInAnyOrder() {
    KeyContext built = KeyContext.builder().put("tenant", "acme").put("table", "orders").build();
    KeyContext reversed = KeyContext.builder().put("table", "orders").put("tenant", "acme").build();

    assertThat(built)
        .isEqualTo(KeyContext.of(java.util.Map.of("tenant", "acme", "table", "orders")));
    assertThat(built.encode()).isEqualTo(reversed.encode());
    assertThat(KeyContext.builder().build()).isEqualTo(KeyContext.empty());
  }

  @Test
  void builderRejectsAKeyPutTwice() {
    KeyContext.Builder builder = KeyContext.builder().put("tenant", "acme");
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> builder.put("tenant", "other"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("tenant")
        .hasMessageNotContaining("other");
  }

  @Test
  void kmsContextForImportNamesTheKekIdAndVersion() {
    assertThat(KekAdmin.kmsContextFor(new KekRef("orders", 3)).entries())
        .containsExactly(
            java.util.Map.entry("keymanager:kek-id", "orders"),
            java.util.Map.entry("keymanager:kek-version", "3"));
  }
}
