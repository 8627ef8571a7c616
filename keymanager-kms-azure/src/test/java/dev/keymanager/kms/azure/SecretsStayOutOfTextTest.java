package dev.keymanager.kms.azure;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import dev.keymanager.KeyContext;
import java.net.URI;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Runs the wrap and unwrap paths and their failures, and scans every exception message (with its
 * causes) and every {@code toString} for the plaintext and for the intermediate key Key Vault
 * unwrapped, in hex, Base64, Base64url and {@code Arrays.toString} form.
 */
class SecretsStayOutOfTextTest {
  private static final KeyContext CONTEXT = KeyContext.of("tenant", "acme");

  @Test
  void noKeyBytesInMessagesOrToStrings() {
    byte[] plaintext = new byte[32];
    Arrays.fill(plaintext, (byte) 0x5c);
    plaintext[0] = 0x11;
    List<String> texts = new ArrayList<>();
    byte[] intermediate;
    try (FakeKeyVault kv = new FakeKeyVault();
        AzureKeyVaultKmsProvider provider = TestProviders.builder(kv).build()) {
      kv.addRsaVersion("kek");
      URI cmk = URI.create("azure-kv://scan.vault.azure.net/keys/kek");
      var cmkClient = provider.wrapper(cmk).orElseThrow();
      byte[] blob = cmkClient.wrap(plaintext, CONTEXT);
      assertThat(provider.unwrapper(cmk).unwrap(blob, CONTEXT)).isEqualTo(plaintext);
      intermediate = kv.lastUnwrapped();

      byte[] tampered = blob.clone();
      tampered[tampered.length - 1] ^= 1;
      collect(texts, catchThrowable(() -> provider.unwrapper(cmk).unwrap(tampered, CONTEXT)));
      collect(
          texts,
          catchThrowable(() -> provider.unwrapper(cmk).unwrap(blob, KeyContext.of("t", "x"))));
      kv.failNext(TestProviders.ATTEMPTS, 503, "ServiceUnavailable", Map.of());
      collect(texts, catchThrowable(() -> provider.unwrapper(cmk).unwrap(blob, CONTEXT)));
      kv.setExpires("kek", Instant.now().minusSeconds(1));
      collect(texts, catchThrowable(() -> cmkClient.wrap(plaintext, CONTEXT)));
      kv.setEnabled("kek", false);
      collect(texts, catchThrowable(() -> provider.unwrapper(cmk).unwrap(blob, CONTEXT)));
      texts.add(provider.toString());
      texts.add(cmkClient.toString());
      texts.add(WrappedBlob.parse(blob).toString());
    }

    assertThat(texts).hasSizeGreaterThan(8);
    assertThat(intermediate).hasSize(32);
    for (byte[] secret : List.of(plaintext, intermediate)) {
      for (String form : forms(secret)) {
        assertThat(texts).noneMatch(t -> t.toLowerCase().contains(form.toLowerCase()));
      }
    }
  }

  private static void collect(List<String> texts, Throwable t) {
    assertThat(t).isNotNull();
    for (Throwable c = t; c != null; c = c.getCause()) {
      texts.add(String.valueOf(c.getMessage()));
      texts.add(c.toString());
    }
  }

  private static List<String> forms(byte[] secret) {
    return List.of(
        HexFormat.of().formatHex(secret),
        Base64.getEncoder().encodeToString(secret),
        Base64.getUrlEncoder().withoutPadding().encodeToString(secret),
        Arrays.toString(secret).replace("[", "").replace("]", ""));
  }
}
