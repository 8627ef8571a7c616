package dev.keymanager.kms.gcp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.cloud.kms.v1.KeyManagementServiceClient;
import dev.keymanager.KeyContext;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.spi.KmsProvider;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.ServiceLoader;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class GcpKmsProviderTest {
  private static final String KEY =
      "projects/p-1/locations/europe-west1/keyRings/r_1/cryptoKeys/k-1";

  @Test
  void serviceLoaderFindsTheProviderForGcpKms() {
    List<KmsProvider> found =
        ServiceLoader.load(KmsProvider.class).stream()
            .map(ServiceLoader.Provider::get)
            .filter(p -> p.scheme().equals("gcp-kms"))
            .toList();

    assertThat(found).singleElement().isInstanceOf(GcpKmsProvider.class);
    found.get(0).close();
  }

  @Test
  void discoveredProviderOpensNothingUntilTheFirstKmsCall() {
    // Default configuration: application default credentials. Nothing may look them up (or probe
    // a metadata server) before a wrap or unwrap is actually made.
    try (GcpKmsProvider provider = new GcpKmsProvider()) {
      provider.unwrapper(URI.create("gcp-kms://" + KEY));
      provider.wrapper(URI.create("gcp-kms://" + KEY));

      assertThat(provider.openClient()).isEmpty();
      assertThat(provider).hasToString("GcpKmsProvider[endpoint=cloudkms.googleapis.com:443]");
    }
  }

  @Test
  void parsesTheCryptoKeyResourceName() {
    CryptoKeyUri parsed = CryptoKeyUri.parse(URI.create("gcp-kms://" + KEY));

    assertThat(parsed.resourceName()).isEqualTo(KEY);
    assertThat(parsed.uri()).isEqualTo(URI.create("gcp-kms://" + KEY));
    assertThat(
            CryptoKeyUri.parse(
                    URI.create(
                        "GCP-KMS://projects/example.com:proj/locations/global/keyRings/r/cryptoKeys/k"))
                .resourceName())
        .isEqualTo("projects/example.com:proj/locations/global/keyRings/r/cryptoKeys/k");
  }

  @ParameterizedTest
  @ValueSource(
      strings = {
        "gcp-kms:projects/p/locations/l/keyRings/r/cryptoKeys/k",
        "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/3",
        "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k?version=1",
        "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k#frag",
        "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/",
        "gcp-kms://projects/p/locations/l/keyRings/r",
        "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k/",
        "gcp-kms://user@projects/p/locations/l/keyRings/r/cryptoKeys/k",
        "gcp-kms://projects:443/p/locations/l/keyRings/r/cryptoKeys/k",
        "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k%2Fx",
        "gcp-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k/extra",
        "gcp-kms://keys/p/locations/l/keyRings/r/cryptoKeys/k",
        "gcp-kms://projects/P/locations/l/keyRings/r/cryptoKeys/k",
        "gcp-kms:///projects/p/locations/l/keyRings/r/cryptoKeys/k",
        "aws-kms://projects/p/locations/l/keyRings/r/cryptoKeys/k"
      })
  void malformedUrisAreConfigurationErrorsNamingTheForm(String uri) {
    GcpKmsProvider provider = GcpKmsProvider.builder().build();

    assertThatThrownBy(() -> provider.unwrapper(URI.create(uri)))
        .isInstanceOf(KeyManagerConfigException.class)
        .hasMessageContaining(uri)
        .hasMessageContaining("gcp-kms://projects/PROJECT/locations/LOCATION/keyRings/RING");
    assertThatThrownBy(() -> provider.wrapper(URI.create(uri)))
        .isInstanceOf(KeyManagerConfigException.class);
  }

  @Test
  void builderRejectsBadValuesAtOnce() {
    GcpKmsProvider.Builder b = GcpKmsProvider.builder();

    assertThatThrownBy(() -> b.attemptTimeout(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.totalTimeout(Duration.ofSeconds(-1)))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.maxAttempts(0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.initialRetryDelay(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.maxRetryDelay(Duration.ZERO))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.endpoint("https://cloudkms.googleapis.com"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.endpoint("localhost")).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.endpoint("localhost:0"))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> b.credentials(null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(
            () ->
                GcpKmsProvider.builder()
                    .attemptTimeout(Duration.ofSeconds(20))
                    .totalTimeout(Duration.ofSeconds(10))
                    .build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("attemptTimeout");
    assertThatThrownBy(
            () ->
                GcpKmsProvider.builder()
                    .initialRetryDelay(Duration.ofSeconds(5))
                    .maxRetryDelay(Duration.ofSeconds(1))
                    .build())
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("initialRetryDelay");
  }

  @Test
  void settingsCarryTheDeadlinesAndRetriesToEncryptAndDecrypt() {
    var settings =
        GcpKmsProvider.builder()
            .endpoint("kms.example.test:8443")
            .attemptTimeout(Duration.ofSeconds(3))
            .totalTimeout(Duration.ofSeconds(9))
            .maxAttempts(5)
            .initialRetryDelay(Duration.ofMillis(50))
            .maxRetryDelay(Duration.ofSeconds(1))
            .settings();

    assertThat(settings.getEndpoint()).isEqualTo("kms.example.test:8443");
    for (var call : List.of(settings.encryptSettings(), settings.decryptSettings())) {
      var retry = call.getRetrySettings();
      assertThat(retry.getInitialRpcTimeoutDuration()).isEqualTo(Duration.ofSeconds(3));
      assertThat(retry.getMaxRpcTimeoutDuration()).isEqualTo(Duration.ofSeconds(3));
      assertThat(retry.getTotalTimeoutDuration()).isEqualTo(Duration.ofSeconds(9));
      assertThat(retry.getMaxAttempts()).isEqualTo(5);
      assertThat(retry.getInitialRetryDelayDuration()).isEqualTo(Duration.ofMillis(50));
      assertThat(retry.getMaxRetryDelayDuration()).isEqualTo(Duration.ofSeconds(1));
      assertThat(call.getRetryableCodes()).isEqualTo(GcpKmsProvider.RETRYABLE_CODES);
    }
  }

  @Test
  void defaultsBoundAFailingCallToSeconds() {
    var settings = GcpKmsProvider.builder().settings();
    var retry = settings.decryptSettings().getRetrySettings();

    assertThat(settings.getEndpoint()).isEqualTo(GcpKmsProvider.DEFAULT_ENDPOINT);

    assertThat(retry.getTotalTimeoutDuration()).isEqualTo(Duration.ofSeconds(15));
    assertThat(retry.getMaxAttempts()).isEqualTo(4);
    assertThat(retry.getMaxRpcTimeoutDuration()).isEqualTo(Duration.ofSeconds(5));
  }

  @Test
  void credentialsThatCannotBeLoadedAreAConfigurationErrorAndTheNextCallTriesAgain() {
    // What application default credentials do when none are set up: getCredentials() throws.
    AtomicInteger lookups = new AtomicInteger();
    try (FakeCloudKms kms = FakeCloudKms.inProcess();
        GcpKmsProvider provider =
            GcpKmsProvider.builder()
                .credentials(
                    () -> {
                      lookups.incrementAndGet();
                      throw new IOException("Your default credentials were not found");
                    })
                .transportChannelProvider(kms.providerBuilderTransport())
                .build()) {
      URI cmk = kms.createKey("creds", "ring", "cmk");

      for (int i = 0; i < 2; i++) {
        assertThatThrownBy(
                () -> provider.wrapper(cmk).orElseThrow().wrap(new byte[32], KeyContext.empty()))
            .isInstanceOf(KeyManagerConfigException.class)
            .hasMessageContaining("credentials were not found")
            .hasCauseInstanceOf(IOException.class);
      }
      assertThat(lookups).hasValue(2);
      assertThat(kms.encryptCalls()).isZero();
    }
  }

  @Test
  void closeClosesTheOneClientAndLaterCallsFail() {
    try (FakeCloudKms kms = FakeCloudKms.inProcess()) {
      URI cmk = kms.createKey("life", "ring", "cmk");
      GcpKmsProvider provider = kms.providerBuilder().build();
      byte[] wrapped =
          provider.wrapper(cmk).orElseThrow().wrap(new byte[32], KeyContext.of("a", "b"));
      provider.unwrapper(cmk).unwrap(wrapped, KeyContext.of("a", "b"));
      KeyManagementServiceClient client = provider.openClient().orElseThrow();
      assertThat(provider.client()).as("one client for every call").isSameAs(client);

      provider.close();
      provider.close(); // idempotent

      assertThat(client.isShutdown()).isTrue();
      assertThat(provider.openClient()).isEmpty();
      assertThatThrownBy(() -> provider.unwrapper(cmk).unwrap(wrapped, KeyContext.of("a", "b")))
          .isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("closed");
    }
  }
}
