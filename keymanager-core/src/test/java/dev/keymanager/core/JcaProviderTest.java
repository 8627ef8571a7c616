package dev.keymanager.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.DataKey;
import dev.keymanager.KekRef;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManager;
import dev.keymanager.WrappedKey;
import dev.keymanager.core.internal.Jca;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.testkit.FakeKms;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.security.Provider;
import java.security.Security;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The provider suite: the key manager's AES-GCM and HMAC on the JDK's SunJCE and on Bouncy Castle
 * ({@code bcprov-jdk18on}), each passed explicitly with {@code jcaProvider}. Both read the
 * committed golden vectors and each other's wrapped keys, so the provider changes nothing on the
 * wire.
 */
class JcaProviderTest {
  private static final URI CMK = FakeKms.cmk("jca");
  private static final KeyContext CONTEXT = KeyContext.builder().put("table", "orders").build();
  private static final HexFormat HEX = HexFormat.of();

  static Stream<Provider> providers() {
    return Stream.of(Security.getProvider("SunJCE"), new BouncyCastleProvider());
  }

  private final FakeKms kms = new FakeKms();
  private final KekStore store = KekStores.inMemory();

  private KeyManager keys(Provider provider) {
    KeyManagers.Builder b =
        KeyManagers.builder().kekStore(store).kmsProvider(kms).discoverProviders(false);
    return (provider == null ? b : b.jcaProvider(provider)).build();
  }

  @ParameterizedTest
  @MethodSource("providers")
  void ciphersAndMacsComeFromTheChosenProvider(Provider provider) throws Exception {
    Jca jca = Jca.of(provider);
    assertThat(jca.aesGcm().getProvider().getName()).isEqualTo(provider.getName());
    assertThat(jca.hmacSha256().getProvider().getName()).isEqualTo(provider.getName());
  }

  @ParameterizedTest
  @MethodSource("providers")
  void theWholeDataPathRunsOnTheProvider(Provider provider) throws Exception {
    try (KeyManager keys = keys(provider)) {
      keys.admin().createKek("orders", CMK);
      try (DataKey dek = keys.generateDek("orders", CONTEXT)) {
        byte[] bytes = dek.useForBytes(byte[]::clone);
        try (DataKey again = keys.unwrapDek(dek.wrappedKey(), CONTEXT)) {
          assertThat(again.useForBytes(byte[]::clone)).isEqualTo(bytes);
        }
        keys.admin().rotateKek("orders");
        WrappedKey rewrapped = keys.rewrapDek(dek.wrappedKey(), CONTEXT);
        assertThat(rewrapped.kek()).isEqualTo(new KekRef("orders", 2));
        try (DataKey async =
            keys.unwrapDekAsync(rewrapped, CONTEXT)
                .toCompletableFuture()
                .get(60, TimeUnit.SECONDS)) {
          assertThat(async.useForBytes(byte[]::clone)).isEqualTo(bytes);
        }
      }
    }
  }

  @ParameterizedTest
  @MethodSource("providers")
  void keysWrappedUnderOneProviderUnwrapUnderTheOther(Provider provider) {
    WrappedKey underProvider;
    WrappedKey underDefault;
    byte[] dek = HEX.parseHex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    try (KeyManager keys = keys(provider)) {
      keys.admin().createKek("orders", CMK);
      underProvider = keys.wrapDek("orders", dek, CONTEXT);
    }
    try (KeyManager keys = keys(null)) {
      try (DataKey k = keys.unwrapDek(underProvider, CONTEXT)) {
        assertThat(k.useForBytes(byte[]::clone)).isEqualTo(dek);
      }
      underDefault = keys.wrapDek("orders", dek, CONTEXT);
    }
    try (KeyManager keys = keys(provider);
        DataKey k = keys.unwrapDek(underDefault, CONTEXT)) {
      assertThat(k.useForBytes(byte[]::clone)).isEqualTo(dek);
    }
  }

  @ParameterizedTest
  @MethodSource("providers")
  void goldenVectorsHoldOnTheProvider(Provider provider) throws IOException {
    Jca jca = Jca.of(provider);
    assertThat(
            HEX.formatHex(
                Hkdf.deriveSha256(
                    jca,
                    HEX.parseHex("0b".repeat(22)),
                    HEX.parseHex("000102030405060708090a0b0c"),
                    HEX.parseHex("f0f1f2f3f4f5f6f7f8f9"),
                    32)))
        .isEqualTo("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");

    Properties v = new Properties();
    try (InputStream in =
        JcaProviderTest.class.getResourceAsStream("/golden/vectors-v1.properties")) {
      v.load(in);
    }
    for (int i = 1; i <= 2; i++) {
      WrappedKey wrapped =
          WrappedKey.decode(HEX.parseHex(v.getProperty("dek-wrap." + i + ".wrapped")));
      CachedKek kek =
          new CachedKek(
              new KekRef("tenant-42/orders", 7),
              HEX.parseHex(v.getProperty("dek-wrap.kek")),
              Long.MAX_VALUE,
              Long.MAX_VALUE,
              jca,
              new SubkeyCache(16));
      byte[] dek =
          DekCipher.unwrap(kek, wrapped, context(v.getProperty("dek-wrap." + i + ".context")));
      assertThat(HEX.formatHex(dek)).isEqualTo(v.getProperty("dek-wrap." + i + ".dek"));
      kek.drop();
    }
  }

  @Test
  void aProviderWithoutAesGcmIsRefusedAtBuild() {
    Provider empty = new Provider("Empty", "1", "offers nothing") {};
    assertThatThrownBy(() -> keys(empty))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("Empty")
        .hasMessageContaining("AES/GCM/NoPadding");
  }

  private static KeyContext context(String spec) {
    Map<String, String> m = new LinkedHashMap<>();
    if (!spec.isEmpty()) {
      for (String pair : spec.split(";")) {
        String[] kv = pair.split("=", 2);
        m.put(kv[0], kv[1]);
      }
    }
    return KeyContext.of(m);
  }
}
