package dev.keymanager.kms.aws;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyContext;
import dev.keymanager.spi.KmsProvider;
import java.net.URI;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.http.ExecutableHttpRequest;
import software.amazon.awssdk.http.HttpExecuteRequest;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.services.kms.model.IncorrectKeyException;

/** What the provider sends on the wire, how it treats aliases, and how it manages its clients. */
class AwsKmsProviderTest {
  private static final FakeAwsKms KMS = FakeAwsKms.start();
  private static final AwsKmsProvider PROVIDER = KMS.providerBuilder(3).build();
  private static final KeyContext CONTEXT =
      KeyContext.of(Map.of("tenant", "acme", "table", "orders"));
  private static final byte[] PLAINTEXT = "thirty-two bytes of a secret key".getBytes(UTF_8);

  @AfterAll
  static void stopEndpoint() {
    PROVIDER.close();
    KMS.close();
  }

  @AfterEach
  void resetEndpoint() {
    KMS.reset();
  }

  @Test
  void wrapSendsOneSignedEncryptWithTheKeyArnAndTheContextAsEncryptionContext() {
    String key = KMS.createKey();

    PROVIDER.wrapper(FakeAwsKms.cmk(key)).orElseThrow().wrap(PLAINTEXT, CONTEXT);

    assertThat(KMS.requests()).hasSize(1);
    FakeAwsKms.Request encrypt = KMS.requests().get(0);
    assertThat(encrypt.target()).isEqualTo("TrentService.Encrypt");
    assertThat(encrypt.keyId()).contains(FakeAwsKms.keyArn(key));
    assertThat(encrypt.encryptionContext()).isEqualTo(Map.of("tenant", "acme", "table", "orders"));
    assertThat(encrypt.json().get("Plaintext").asString())
        .isEqualTo(Base64.getEncoder().encodeToString(PLAINTEXT));
    assertThat(encrypt.json().get("EncryptionAlgorithm").asString()).isEqualTo("SYMMETRIC_DEFAULT");
    assertThat(encrypt.header("Content-Type")).contains("application/x-amz-json-1.1");
    assertSignedForRegion(encrypt, FakeAwsKms.REGION);
  }

  @Test
  void unwrapSendsOneSignedDecryptPinnedToTheKeyArnWithTheEncryptionContext() {
    String key = KMS.createKey();
    URI cmk = FakeAwsKms.cmk(key);
    byte[] ciphertext = PROVIDER.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
    KMS.clearRequests();

    byte[] plaintext = PROVIDER.unwrapper(cmk).unwrap(ciphertext, CONTEXT);

    assertThat(plaintext).isEqualTo(PLAINTEXT);
    assertThat(KMS.requests()).hasSize(1);
    FakeAwsKms.Request decrypt = KMS.requests().get(0);
    assertThat(decrypt.target()).isEqualTo("TrentService.Decrypt");
    assertThat(decrypt.keyId()).contains(FakeAwsKms.keyArn(key));
    assertThat(decrypt.encryptionContext()).isEqualTo(Map.of("tenant", "acme", "table", "orders"));
    assertThat(Base64.getDecoder().decode(decrypt.json().get("CiphertextBlob").asString()))
        .isEqualTo(ciphertext);
    assertSignedForRegion(decrypt, FakeAwsKms.REGION);
  }

  @Test
  void anEmptyContextSendsNoEncryptionContext() {
    URI cmk = FakeAwsKms.cmk(KMS.createKey());

    byte[] ciphertext = PROVIDER.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, KeyContext.empty());

    assertThat(PROVIDER.unwrapper(cmk).unwrap(ciphertext, KeyContext.empty())).isEqualTo(PLAINTEXT);
    assertThat(KMS.requests())
        .hasSize(2)
        .allSatisfy(r -> assertThat(r.encryptionContext()).isNull());
  }

  @Test
  void anAliasIsSentAsItsArnAndAnswersNameTheKeyBehindIt() {
    String key = KMS.createKey();
    KMS.pointAlias("payments", key);
    URI cmk = FakeAwsKms.aliasCmk("payments");

    byte[] ciphertext = PROVIDER.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
    byte[] plaintext = PROVIDER.unwrapper(cmk).unwrap(ciphertext, CONTEXT);

    assertThat(plaintext).isEqualTo(PLAINTEXT);
    assertThat(KMS.requests())
        .extracting(r -> r.keyId().orElseThrow())
        .containsExactly(FakeAwsKms.aliasArn("payments"), FakeAwsKms.aliasArn("payments"));
  }

  @Test
  void repointingAnAliasLeavesOldCiphertextRefusedNotDecryptedByTheNewKey() {
    String oldKey = KMS.createKey();
    KMS.pointAlias("rotating", oldKey);
    URI cmk = FakeAwsKms.aliasCmk("rotating");
    byte[] ciphertext = PROVIDER.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);

    KMS.pointAlias("rotating", KMS.createKey());

    assertThatThrownBy(() -> PROVIDER.unwrapper(cmk).unwrap(ciphertext, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasCauseInstanceOf(IncorrectKeyException.class)
        .hasMessageContaining(cmk.toString())
        .hasMessageContaining("alias now points to another key");
  }

  @Test
  void anAliasAnsweredForByAKeyOfAnotherAccountIsDiscarded() {
    String key = KMS.createKey();
    KMS.pointAlias("foreign", key);
    URI cmk = FakeAwsKms.aliasCmk("foreign");
    byte[] ciphertext = PROVIDER.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
    String foreignKeyArn = FakeAwsKms.keyArn(key).replace(FakeAwsKms.ACCOUNT, "444455556666");
    KMS.answerWithKeyId(foreignKeyArn);

    assertThatThrownBy(() -> PROVIDER.unwrapper(cmk).unwrap(ciphertext, CONTEXT))
        .isInstanceOf(KeyAccessDeniedException.class)
        .hasMessageContaining(foreignKeyArn)
        .hasMessageContaining("account " + FakeAwsKms.ACCOUNT);
  }

  @Test
  void oneClientPerRegionReusedAcrossCmksAndSignedForTheArnsRegion() {
    try (AwsKmsProvider provider = KMS.providerBuilder(1).build()) {
      assertThat(provider.openRegions()).as("no client before the first call").isEmpty();

      provider.wrapper(FakeAwsKms.cmk(KMS.createKey())).orElseThrow().wrap(PLAINTEXT, CONTEXT);
      provider.wrapper(FakeAwsKms.cmk(KMS.createKey())).orElseThrow().wrap(PLAINTEXT, CONTEXT);
      assertThat(provider.openRegions()).containsExactly(FakeAwsKms.REGION);

      URI usEast =
          URI.create(
              "aws-kms://arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab");
      KMS.clearRequests();
      // The fake serves eu-west-1 only and answers NotFoundException; what matters is the
      // signature.
      assertThatThrownBy(() -> provider.unwrapper(usEast).unwrap(new byte[64], CONTEXT))
          .isInstanceOf(KeyAccessDeniedException.class);
      assertThat(provider.openRegions()).containsExactly("eu-west-1", "us-east-1");
      assertSignedForRegion(KMS.requests().get(0), "us-east-1");
    }
  }

  @Test
  void closeReleasesTheClientsAndLaterCallsFail() {
    AwsKmsProvider provider = KMS.providerBuilder(1).build();
    URI cmk = FakeAwsKms.cmk(KMS.createKey());
    provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);

    provider.close();
    provider.close();

    assertThat(provider.openRegions()).isEmpty();
    assertThatThrownBy(() -> provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT))
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("closed");
  }

  @Test
  void aGivenHttpClientIsUsedAndLeftToItsOwner() {
    CountingHttpClient http = new CountingHttpClient(UrlConnectionHttpClient.create());
    try {
      AwsKmsProvider provider = KMS.providerBuilder(1).httpClient(http).build();
      URI cmk = FakeAwsKms.cmk(KMS.createKey());
      byte[] ciphertext = provider.wrapper(cmk).orElseThrow().wrap(PLAINTEXT, CONTEXT);
      assertThat(provider.unwrapper(cmk).unwrap(ciphertext, CONTEXT)).isEqualTo(PLAINTEXT);

      provider.close();

      assertThat(http.requests.get()).isEqualTo(2);
      assertThat(http.closes.get()).as("closed by the provider").isZero();
    } finally {
      http.delegate.close();
    }
  }

  @Test
  void serviceLoaderFindsTheProviderForItsScheme() {
    List<KmsProvider> found =
        ServiceLoader.load(KmsProvider.class).stream()
            .map(ServiceLoader.Provider::get)
            .filter(p -> p.scheme().equals(AwsKmsProvider.SCHEME))
            .toList();

    assertThat(found).singleElement().isInstanceOf(AwsKmsProvider.class);
    found.forEach(KmsProvider::close);
  }

  @Test
  void gettingAnUnwrapperOrWrapperMakesNoCall() {
    AwsKmsProvider provider = new AwsKmsProvider(); // the defaults: real AWS, default credentials
    URI cmk = FakeAwsKms.cmk("1234abcd-12ab-34cd-56ef-1234567890ab");

    assertThat(provider.unwrapper(cmk).cmkUri()).isEqualTo(cmk);
    assertThat(provider.wrapper(cmk)).isPresent();
    assertThat(provider.openRegions()).isEmpty();
    provider.close();
  }

  @Test
  void builderRejectsBadValuesAtOnceAndBadCombinationsAtBuild() {
    AwsKmsProvider.Builder b = AwsKmsProvider.builder();

    assertThatThrownBy(() -> b.apiCallTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.apiCallAttemptTimeout(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.connectTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.endpointOverride(URI.create("ftp://kms.example")))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.endpointOverride(URI.create("kms.example")))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(
            () ->
                AwsKmsProvider.builder()
                    .apiCallTimeout(Duration.ofSeconds(1))
                    .apiCallAttemptTimeout(Duration.ofSeconds(2))
                    .build())
        .isInstanceOf(IllegalStateException.class)
        .hasMessageContaining("apiCallAttemptTimeout");
    try (SdkHttpClient http = UrlConnectionHttpClient.create()) {
      assertThatThrownBy(
              () ->
                  AwsKmsProvider.builder()
                      .httpClient(http)
                      .connectTimeout(Duration.ofSeconds(1))
                      .build())
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("connectTimeout");
    }
  }

  @Test
  void toStringNamesRegionsAndEndpointOnly() {
    assertThat(PROVIDER.toString())
        .startsWith("AwsKmsProvider[")
        .contains(KMS.endpoint().toString())
        .doesNotContain("not-a-real-secret");
  }

  private static void assertSignedForRegion(FakeAwsKms.Request request, String region) {
    assertThat(request.header("Authorization"))
        .hasValueSatisfying(
            auth ->
                assertThat(auth)
                    .startsWith("AWS4-HMAC-SHA256 Credential=" + FakeAwsKms.ACCESS_KEY_ID + "/")
                    .contains("/" + region + "/kms/aws4_request")
                    .contains("SignedHeaders=")
                    .containsPattern("Signature=[0-9a-f]{64}"));
    assertThat(request.header("X-Amz-Date")).isPresent();
  }

  /** Delegates to a real HTTP client, counting requests and close calls. */
  private static final class CountingHttpClient implements SdkHttpClient {
    final SdkHttpClient delegate;
    final AtomicInteger requests = new AtomicInteger();
    final AtomicInteger closes = new AtomicInteger();

    CountingHttpClient(SdkHttpClient delegate) {
      this.delegate = delegate;
    }

    @Override
    public ExecutableHttpRequest prepareRequest(HttpExecuteRequest request) {
      requests.incrementAndGet();
      return delegate.prepareRequest(request);
    }

    @Override
    public String clientName() {
      return delegate.clientName();
    }

    @Override
    public void close() {
      closes.incrementAndGet();
    }
  }
}
