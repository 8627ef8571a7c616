package dev.keymanager.kms.azure;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.azure.core.http.HttpClient;
import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KeyContext;
import dev.keymanager.spi.KmsProvider;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.ServiceLoader;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

/** Versions, algorithms, client reuse and lifecycle of the provider, against the fake. */
class AzureKeyVaultKmsProviderTest {
  private static final FakeKeyVault KV = new FakeKeyVault();
  private static final KeyContext CONTEXT = KeyContext.of("table", "orders");
  private static final byte[] PLAINTEXT = "a 32-byte key-encryption key...".getBytes();

  @AfterAll
  static void stop() {
    KV.close();
  }

  @Test
  void unwrapCallsTheVersionRecordedAtWrapEvenAfterRotation() {
    String v1 = KV.addRsaVersion("rotating");
    URI cmk = URI.create("azure-kv://vault1.vault.azure.net/keys/rotating");
    try (AzureKeyVaultKmsProvider provider = TestProviders.builder(KV).build()) {
      byte[] first = provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
      String v2 = KV.addRsaVersion("rotating");
      byte[] second = provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
      KV.clearRequests();

      assertThat(WrappedBlob.parse(first).keyVersion()).isEqualTo(v1);
      assertThat(WrappedBlob.parse(second).keyVersion()).isEqualTo(v2);
      assertThat(provider.unwrapper(cmk).unwrap(first, CONTEXT)).isEqualTo(PLAINTEXT);
      assertThat(provider.unwrapper(cmk).unwrap(second, CONTEXT)).isEqualTo(PLAINTEXT);
      assertThat(KV.requests("POST", "/rotating/" + v1 + "/unwrapkey")).hasSize(1);
      assertThat(KV.requests("POST", "/rotating/" + v2 + "/unwrapkey")).hasSize(1);
    }
  }

  @Test
  void aPinnedVersionWrapsWithItAndRefusesCiphertextOfAnotherVersionWithoutACall() {
    String v1 = KV.addRsaVersion("pinned");
    String v2 = KV.addRsaVersion("pinned");
    URI pinned = URI.create("azure-kv://vault1.vault.azure.net/keys/pinned/" + v1);
    URI latest = URI.create("azure-kv://vault1.vault.azure.net/keys/pinned");
    try (AzureKeyVaultKmsProvider provider = TestProviders.builder(KV).build()) {
      byte[] underV1 = provider.wrapper(pinned).orElseThrow().wrap(PLAINTEXT, CONTEXT);
      byte[] underV2 = provider.wrapper(latest).orElseThrow().wrap(PLAINTEXT, CONTEXT);
      KV.clearRequests();

      assertThat(WrappedBlob.parse(underV1).keyVersion()).isEqualTo(v1);
      assertThat(WrappedBlob.parse(underV2).keyVersion()).isEqualTo(v2);
      assertThatThrownBy(() -> provider.unwrapper(pinned).unwrap(underV2, CONTEXT))
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining(v2)
          .hasMessageContaining(pinned.toString());
      assertThat(KV.requests()).isEmpty();
      assertThat(provider.unwrapper(latest).unwrap(underV1, CONTEXT)).isEqualTo(PLAINTEXT);
    }
  }

  @Test
  void ciphertextOfAnotherKeyNameFailsWithoutACall() {
    KV.addRsaVersion("alpha");
    KV.addRsaVersion("beta");
    URI alpha = URI.create("azure-kv://vault1.vault.azure.net/keys/alpha");
    URI beta = URI.create("azure-kv://vault1.vault.azure.net/keys/beta");
    try (AzureKeyVaultKmsProvider provider = TestProviders.builder(KV).build()) {
      byte[] blob = provider.wrapper(alpha).orElseThrow().wrap(PLAINTEXT, CONTEXT);
      KV.clearRequests();

      assertThatThrownBy(() -> provider.unwrapper(beta).unwrap(blob, CONTEXT))
          .isInstanceOf(InvalidCiphertextException.class)
          .hasMessageContaining("'alpha'");
      assertThat(KV.requests()).isEmpty();
    }
  }

  @Test
  void rsaKeysUseRsaOaep256AndManagedHsmAesKeysUseA256kw() {
    KV.addRsaVersion("rsa");
    KV.addAesVersion("aes");
    try (AzureKeyVaultKmsProvider provider = TestProviders.builder(KV).build()) {
      byte[] rsa =
          provider
              .wrapper(URI.create("azure-kv://v.vault.azure.net/keys/rsa"))
              .orElseThrow()
              .wrap(PLAINTEXT, CONTEXT);
      byte[] aes =
          provider
              .wrapper(URI.create("azure-kv://h.managedhsm.azure.net/keys/aes"))
              .orElseThrow()
              .wrap(PLAINTEXT, CONTEXT);

      assertThat(WrappedBlob.parse(rsa).algorithm()).isEqualTo(WrappedBlob.Algorithm.RSA_OAEP_256);
      assertThat(WrappedBlob.parse(rsa).wrappedKey()).hasSize(256);
      assertThat(WrappedBlob.parse(aes).algorithm()).isEqualTo(WrappedBlob.Algorithm.A256KW);
      assertThat(WrappedBlob.parse(aes).wrappedKey()).hasSize(40);
    }
  }

  @Test
  void oneClientPerKeyVersionIsReused() {
    KV.addRsaVersion("reused");
    URI cmk = URI.create("azure-kv://vault1.vault.azure.net/keys/reused");
    try (AzureKeyVaultKmsProvider provider = TestProviders.builder(KV).build()) {
      assertThat(provider.unwrapper(cmk)).isSameAs(provider.wrapper(cmk).orElseThrow());
      byte[] blob = provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
      KV.clearRequests();

      for (int i = 0; i < 5; i++) {
        provider.unwrapper(cmk).unwrap(blob, CONTEXT);
      }

      // No key GET by the SDK per call (key caching off) and no new challenge: five requests.
      assertThat(KV.requests()).hasSize(5).allMatch(FakeKeyVault.Request::authorized);
    }
  }

  @Test
  void closeDisposesTheOwnedPoolAndLaterCallsFail() {
    KV.addRsaVersion("closing");
    URI cmk = URI.create("azure-kv://vault1.vault.azure.net/keys/closing");
    AzureKeyVaultKmsProvider provider = TestProviders.builder(KV).build();
    assertThat(provider.ownsOpenPool()).as("no pool before the first call").isFalse();
    byte[] blob = provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
    assertThat(provider.ownsOpenPool()).isTrue();

    provider.close();
    provider.close();

    assertThat(provider.ownsOpenPool()).isFalse();
    assertThatThrownBy(() -> provider.unwrapper(cmk)).isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> provider.wrapper(cmk)).isInstanceOf(IllegalStateException.class);
    assertThat(blob).isNotEmpty();
  }

  @Test
  void wrapperAndUnwrapperHeldAcrossCloseFailInsteadOfReopening() {
    KV.addRsaVersion("held");
    URI cmk = URI.create("azure-kv://vault1.vault.azure.net/keys/held");
    AzureKeyVaultKmsProvider provider = TestProviders.builder(KV).build();
    byte[] blob = provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
    var unwrapper = provider.unwrapper(cmk);
    var wrapper = provider.wrapper(cmk).orElseThrow();

    provider.close();

    assertThatThrownBy(() -> unwrapper.unwrap(blob, CONTEXT))
        .isInstanceOf(IllegalStateException.class);
    assertThatThrownBy(() -> wrapper.wrap(PLAINTEXT, CONTEXT))
        .isInstanceOf(IllegalStateException.class);
  }

  @Test
  void timeoutsConfigureOnlyTheDefaultClient() {
    HttpClient own = HttpClient.createDefault();

    assertThatThrownBy(
            () ->
                AzureKeyVaultKmsProvider.builder()
                    .httpClient(own)
                    .responseTimeout(Duration.ofSeconds(1))
                    .build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("httpClient");
    assertThatThrownBy(() -> AzureKeyVaultKmsProvider.builder().connectTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(
            () -> AzureKeyVaultKmsProvider.builder().responseTimeout(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void aCallerSuppliedHttpClientIsUsedAndNotOwned() {
    KV.addRsaVersion("supplied");
    URI cmk = URI.create("azure-kv://vault1.vault.azure.net/keys/supplied");
    reactor.netty.http.client.HttpClient netty =
        TestProviders.trustTestCertificate().apply(reactor.netty.http.client.HttpClient.create());
    HttpClient supplied = new com.azure.core.http.netty.NettyAsyncHttpClientBuilder(netty).build();
    try (AzureKeyVaultKmsProvider provider =
        AzureKeyVaultKmsProvider.builder()
            .credential(TestProviders.credential())
            .retryOptions(TestProviders.fastRetries())
            .httpClient(supplied)
            .endpointOverride(KV.baseUrl())
            .build()) {
      byte[] blob = provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);

      assertThat(provider.unwrapper(cmk).unwrap(blob, CONTEXT)).isEqualTo(PLAINTEXT);
      assertThat(provider.ownsOpenPool()).isFalse();
    }
  }

  @Test
  void serviceLoaderFindsTheProviderAndCreatingItMakesNoCall() {
    List<KmsProvider> found = new ArrayList<>();
    ServiceLoader.load(KmsProvider.class).forEach(found::add);
    KmsProvider azure =
        found.stream()
            .filter(p -> p instanceof AzureKeyVaultKmsProvider)
            .findFirst()
            .orElseThrow(() -> new AssertionError("not discovered: " + found));
    try (azure) {
      assertThat(azure.scheme()).isEqualTo("azure-kv");
      URI cmk = URI.create("azure-kv://prod.vault.azure.net/keys/kek");
      // Parsing and handing out the unwrapper is local: DefaultAzureCredential is not even built.
      assertThat(azure.unwrapper(cmk).cmkUri()).isEqualTo(cmk);
      assertThat(((AzureKeyVaultKmsProvider) azure).ownsOpenPool()).isFalse();
    } finally {
      found.forEach(KmsProvider::close);
    }
  }

  @Test
  void toStringsNameNoSecrets() {
    KV.addRsaVersion("printed");
    URI cmk = URI.create("azure-kv://vault1.vault.azure.net/keys/printed");
    try (AzureKeyVaultKmsProvider provider = TestProviders.builder(KV).build()) {
      byte[] blob = provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);

      assertThat(provider.unwrapper(cmk).toString()).isEqualTo("KeyVaultCmk[" + cmk + "]");
      assertThat(WrappedBlob.parse(blob).toString())
          .startsWith("WrappedBlob[RSA-OAEP-256, key printed/");
      assertThat(new LentAesKey(new byte[32]).toString()).contains("redacted");
      assertThat(provider.toString()).contains("1 keys open");
    }
  }
}
