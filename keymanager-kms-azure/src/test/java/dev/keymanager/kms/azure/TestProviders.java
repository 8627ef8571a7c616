package dev.keymanager.kms.azure;

import com.azure.core.credential.AccessToken;
import com.azure.core.credential.TokenCredential;
import com.azure.core.http.policy.FixedDelayOptions;
import com.azure.core.http.policy.RetryOptions;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.util.function.UnaryOperator;
import javax.net.ssl.SSLException;
import reactor.core.publisher.Mono;

/** Providers wired to a {@link FakeKeyVault}: real CryptographyClient, real Netty, real TLS. */
final class TestProviders {
  /** Retries as the tests count them: 2 retries, so 3 requests per failing operation. */
  static final int ATTEMPTS = 3;

  private TestProviders() {}

  /** A credential that hands out the fake's token, as a managed identity would. */
  static TokenCredential credential() {
    return ctx -> Mono.just(new AccessToken(FakeKeyVault.TOKEN, OffsetDateTime.now().plusHours(1)));
  }

  static RetryOptions fastRetries() {
    return new RetryOptions(new FixedDelayOptions(ATTEMPTS - 1, Duration.ofMillis(10)));
  }

  /** The builder every test starts from: test credential, fast retries, trust in the test cert. */
  static AzureKeyVaultKmsProvider.Builder builder(FakeKeyVault kv) {
    return AzureKeyVaultKmsProvider.builder()
        .credential(credential())
        .retryOptions(fastRetries())
        .endpointOverride(kv.baseUrl())
        .nettyCustomizer(trustTestCertificate());
  }

  static UnaryOperator<reactor.netty.http.client.HttpClient> trustTestCertificate() {
    SslContext ssl;
    try {
      ssl = SslContextBuilder.forClient().trustManager(TestCertificate.get().certificate).build();
    } catch (SSLException e) {
      throw new IllegalStateException(e);
    }
    return http -> http.secure(spec -> spec.sslContext(ssl));
  }
}
