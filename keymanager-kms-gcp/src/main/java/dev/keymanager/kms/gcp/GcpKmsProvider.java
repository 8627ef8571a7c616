package dev.keymanager.kms.gcp;

import static java.util.Objects.requireNonNull;

import com.google.api.gax.core.CredentialsProvider;
import com.google.api.gax.retrying.RetrySettings;
import com.google.api.gax.rpc.StatusCode;
import com.google.api.gax.rpc.TransportChannelProvider;
import com.google.api.gax.rpc.UnaryCallSettings;
import com.google.cloud.kms.v1.KeyManagementServiceClient;
import com.google.cloud.kms.v1.KeyManagementServiceSettings;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link KmsProvider} for Google Cloud KMS symmetric keys, scheme {@code gcp-kms}:
 *
 * <pre>{@code
 * gcp-kms://projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY
 * }</pre>
 *
 * <p>Wrap is {@code Encrypt} and unwrap is {@code Decrypt} on that CryptoKey (Encrypt uses its
 * primary version; Decrypt finds the version in the ciphertext), with the {@link
 * dev.keymanager.KeyContext#encode() canonical encoding} of the key context as {@code
 * additional_authenticated_data}. Every call is checked end to end with CRC32C (see {@link
 * GcpCryptoKey}); an Encrypt response must name a version of the requested key. Failures map to
 * keymanager's exceptions as the README's table says, the gax {@code ApiException} kept as cause:
 * PERMISSION_DENIED, UNAUTHENTICATED, FAILED_PRECONDITION (version disabled or destroyed) and
 * NOT_FOUND to {@link dev.keymanager.KeyAccessDeniedException}; INVALID_ARGUMENT on Decrypt to
 * {@link dev.keymanager.InvalidCiphertextException}; UNAVAILABLE, DEADLINE_EXCEEDED,
 * RESOURCE_EXHAUSTED, INTERNAL and other transient codes to {@link
 * dev.keymanager.KmsUnavailableException}.
 *
 * <p>Found by {@link java.util.ServiceLoader} with the defaults below (application default
 * credentials, the public endpoint); a key manager closes the providers it discovered. For other
 * settings build one and pass it to the key manager's builder; it then stays yours to close:
 *
 * <pre>{@code
 * try (GcpKmsProvider gcp = GcpKmsProvider.builder()
 *         .credentials(FixedCredentialsProvider.create(credentials))
 *         .totalTimeout(Duration.ofSeconds(10))
 *         .build();
 *     KeyManager keys = KeyManagers.builder().kekStore(store).kmsProvider(gcp).build()) {
 *   keys.admin().createKek("tenant-42",
 *       URI.create("gcp-kms://projects/p/locations/global/keyRings/r/cryptoKeys/k"));
 * }
 * }</pre>
 *
 * <p>One {@link KeyManagementServiceClient} (one gRPC channel pool) per provider, opened at the
 * first KMS call, shared by every CryptoKey, and closed by {@link #close()}. Creating a provider or
 * getting an unwrapper never looks up credentials or contacts Google.
 *
 * <p>IAM: {@code roles/cloudkms.cryptoKeyEncrypterDecrypter} on the key to create KEKs, or only
 * {@code roles/cloudkms.cryptoKeyDecrypter} to use imported ones.
 *
 * <p>Dependency: {@code com.google.cloud:google-cloud-kms} (Google's client: gax retries and
 * deadlines, gRPC with a shaded Netty, protobuf, google-auth-library for credentials; about 48 MB
 * of jars), versions aligned by {@code com.google.cloud:libraries-bom}.
 *
 * <p>Known issues: the plaintext KEK of a Decrypt response lives on in protobuf's immutable {@code
 * ByteString} (and in gRPC's buffers) until garbage collection; only the copy handed to the caller
 * can be overwritten. Encrypt lends protobuf a private copy of the plaintext that is overwritten
 * after the call. The module has no {@code module-info.java}: {@code google-cloud-kms} and {@code
 * proto-google-cloud-kms-v1} both hold the package {@code com.google.cloud.kms.v1} and neither
 * declares a module name, so on the module path they clash as automatic modules. The jar carries
 * {@code Automatic-Module-Name: dev.keymanager.kms.gcp} instead.
 *
 * <p>Thread-safe.
 */
public final class GcpKmsProvider implements KmsProvider {
  private static final Logger log = LoggerFactory.getLogger(GcpKmsProvider.class);

  /** The URI scheme this provider serves. */
  public static final String SCHEME = CryptoKeyUri.SCHEME;

  /** Default deadline of one Encrypt or Decrypt attempt: 5 seconds. */
  public static final Duration DEFAULT_ATTEMPT_TIMEOUT = Duration.ofSeconds(5);

  /** Default deadline of one wrap or unwrap, all attempts and backoff included: 15 seconds. */
  public static final Duration DEFAULT_TOTAL_TIMEOUT = Duration.ofSeconds(15);

  /** Default number of attempts of one wrap or unwrap, the first included: 4. */
  public static final int DEFAULT_MAX_ATTEMPTS = 4;

  /** Default backoff before the first retry: 100 ms, doubling, jittered. */
  public static final Duration DEFAULT_INITIAL_RETRY_DELAY = Duration.ofMillis(100);

  /** Default cap on the backoff between retries: 2 seconds. */
  public static final Duration DEFAULT_MAX_RETRY_DELAY = Duration.ofSeconds(2);

  /**
   * The status codes retried by the client before a call fails: UNAVAILABLE and DEADLINE_EXCEEDED
   * (the library's defaults), plus RESOURCE_EXHAUSTED (quota, throttling) and INTERNAL (a server
   * error): the transient failures keymanager's failure model retries with jittered backoff.
   * Encrypt and Decrypt change nothing on the server, so a retry is safe.
   */
  static final Set<StatusCode.Code> RETRYABLE_CODES =
      Set.of(
          StatusCode.Code.UNAVAILABLE,
          StatusCode.Code.DEADLINE_EXCEEDED,
          StatusCode.Code.RESOURCE_EXHAUSTED,
          StatusCode.Code.INTERNAL);

  /** The public endpoint, used unless {@link Builder#endpoint(String)} says otherwise. */
  public static final String DEFAULT_ENDPOINT = "cloudkms.googleapis.com:443";

  private final Builder config; // a private copy; turned into client settings at the first call
  private final Object lock = new Object();
  private KeyManagementServiceClient client; // guarded by lock; null until the first call
  private boolean closed; // guarded by lock

  /**
   * A provider with every default: application default credentials, the public endpoint, the
   * deadlines and retries documented on {@link Builder}. For {@link java.util.ServiceLoader}.
   */
  public GcpKmsProvider() {
    this(builder());
  }

  private GcpKmsProvider(Builder b) {
    // Discovery instantiates every provider on the class path, used or not: keep this cheap and
    // load none of the client library's classes until a KMS call needs them.
    this.config = b.copy();
  }

  /** A builder starting from the defaults. */
  public static Builder builder() {
    return new Builder();
  }

  @Override
  public String scheme() {
    return SCHEME;
  }

  /**
   * {@inheritDoc}
   *
   * <p>Needs {@code cloudkms.cryptoKeyVersions.useToDecrypt} on the key.
   */
  @Override
  public KmsUnwrapper unwrapper(URI cmkUri) {
    return new GcpCryptoKey(CryptoKeyUri.parse(cmkUri), this::client);
  }

  /**
   * {@inheritDoc}
   *
   * <p>Always present; needs {@code cloudkms.cryptoKeyVersions.useToEncrypt} on the key.
   */
  @Override
  public Optional<KmsWrapper> wrapper(URI cmkUri) {
    return Optional.of(new GcpCryptoKey(CryptoKeyUri.parse(cmkUri), this::client));
  }

  /** The client, opened at the first call. */
  KeyManagementServiceClient client() {
    synchronized (lock) {
      if (closed) {
        throw new IllegalStateException("This GcpKmsProvider is closed");
      }
      if (client == null) {
        try {
          log.debug(
              "Opening the Google Cloud KMS client (endpoint {})", config.endpointOrDefault());
          client = KeyManagementServiceClient.create(config.settings());
        } catch (IOException e) {
          // Typically no application default credentials: not found, or a key file that does not
          // parse. Not memoised: the next call tries again.
          throw new KeyManagerConfigException(
              "Could not open the Google Cloud KMS client (credentials or endpoint): "
                  + e.getMessage()
                  + ". Set application default credentials or pass credentials to"
                  + " GcpKmsProvider.builder()",
              e);
        }
      }
      return client;
    }
  }

  /** The open client, if any; for tests. */
  @VisibleForTesting
  Optional<KeyManagementServiceClient> openClient() {
    synchronized (lock) {
      return Optional.ofNullable(client);
    }
  }

  /**
   * Closes the client and its channels, if one was opened; calls in flight finish, later wraps and
   * unwraps fail with {@link IllegalStateException}. Idempotent.
   */
  @Override
  public void close() {
    KeyManagementServiceClient toClose;
    synchronized (lock) {
      closed = true;
      toClose = client;
      client = null;
    }
    if (toClose != null) {
      try {
        toClose.close();
      } catch (RuntimeException e) {
        log.warn("Closing the Google Cloud KMS client failed", e);
      }
    }
  }

  @Override
  public String toString() {
    return "GcpKmsProvider[endpoint=" + config.endpointOrDefault() + "]";
  }

  /**
   * Configures a {@link GcpKmsProvider}: credentials, endpoint, deadlines and retries. Not
   * thread-safe; reusable. Setters reject bad values at once.
   *
   * <p>With the defaults, a call against a KMS that keeps answering UNAVAILABLE gives up after 4
   * attempts and about 0.7 s of backoff (100 + 200 + 400 ms, jittered); a KMS that never answers
   * fails after 15 s (three 5 s attempts). The library's own defaults (unlimited attempts within 60
   * s) made one such call take about 45 s, longer than a storage engine should block on a KEK.
   */
  public static final class Builder {
    private CredentialsProvider credentials;
    private String endpoint;
    private TransportChannelProvider transport;
    private Duration attemptTimeout = DEFAULT_ATTEMPT_TIMEOUT;
    private Duration totalTimeout = DEFAULT_TOTAL_TIMEOUT;
    private int maxAttempts = DEFAULT_MAX_ATTEMPTS;
    private Duration initialRetryDelay = DEFAULT_INITIAL_RETRY_DELAY;
    private Duration maxRetryDelay = DEFAULT_MAX_RETRY_DELAY;

    private Builder() {}

    private Builder copy() {
      Builder b = new Builder();
      b.credentials = credentials;
      b.endpoint = endpoint;
      b.transport = transport;
      b.attemptTimeout = attemptTimeout;
      b.totalTimeout = totalTimeout;
      b.maxAttempts = maxAttempts;
      b.initialRetryDelay = initialRetryDelay;
      b.maxRetryDelay = maxRetryDelay;
      return b;
    }

    private String endpointOrDefault() {
      return endpoint != null ? endpoint : DEFAULT_ENDPOINT;
    }

    /**
     * Where credentials come from; default: application default credentials with the {@code
     * cloud-platform} scope ({@code GOOGLE_APPLICATION_CREDENTIALS}, gcloud's application default
     * login, or the metadata server on Google Cloud), looked up at the first KMS call. Pass {@code
     * FixedCredentialsProvider.create(credentials)} for a service account key or impersonated
     * credentials, or {@code NoCredentialsProvider.create()} for a local test server.
     */
    public Builder credentials(CredentialsProvider credentials) {
      this.credentials = requireNonNull(credentials, "credentials");
      return this;
    }

    /**
     * The {@code host:port} to call; default {@link #DEFAULT_ENDPOINT}. For a regional or Private
     * Service Connect endpoint, or a test server.
     *
     * @throws IllegalArgumentException if not of the form {@code host:port}
     */
    public Builder endpoint(String hostAndPort) {
      requireNonNull(hostAndPort, "hostAndPort");
      int colon = hostAndPort.lastIndexOf(':');
      if (colon < 1 || colon == hostAndPort.length() - 1 || hostAndPort.contains("/")) {
        throw new IllegalArgumentException("endpoint must be host:port: " + hostAndPort);
      }
      try {
        int port = Integer.parseInt(hostAndPort.substring(colon + 1));
        if (port < 1 || port > 65_535) {
          throw new IllegalArgumentException("endpoint port out of range: " + hostAndPort);
        }
      } catch (NumberFormatException e) {
        throw new IllegalArgumentException("endpoint must be host:port: " + hostAndPort, e);
      }
      this.endpoint = hostAndPort;
      return this;
    }

    /**
     * The gRPC transport; default: the library's TLS channel to the {@linkplain #endpoint
     * endpoint}. Advanced: for a proxy, custom channel settings, or a plaintext channel to a test
     * server ({@code
     * KeyManagementServiceSettings.defaultGrpcTransportProviderBuilder().setChannelConfigurator(
     * ManagedChannelBuilder::usePlaintext).build()}). A fixed channel passed here is not closed by
     * {@link GcpKmsProvider#close()}; the caller owns it.
     */
    public Builder transportChannelProvider(TransportChannelProvider transport) {
      this.transport = requireNonNull(transport, "transport");
      return this;
    }

    /**
     * The deadline of one attempt; default {@link #DEFAULT_ATTEMPT_TIMEOUT} (5 s). An attempt past
     * it fails with DEADLINE_EXCEEDED and is retried if time and attempts remain.
     *
     * @throws IllegalArgumentException if not positive
     */
    public Builder attemptTimeout(Duration timeout) {
      this.attemptTimeout = positive(timeout, "attemptTimeout");
      return this;
    }

    /**
     * The deadline of a whole wrap or unwrap, retries and backoff included; default {@link
     * #DEFAULT_TOTAL_TIMEOUT} (15 s). The most a cache miss can block on the KMS.
     *
     * @throws IllegalArgumentException if not positive
     */
    public Builder totalTimeout(Duration timeout) {
      this.totalTimeout = positive(timeout, "totalTimeout");
      return this;
    }

    /**
     * The most attempts of one wrap or unwrap, the first included; default {@link
     * #DEFAULT_MAX_ATTEMPTS} (4). 1 turns retries off.
     *
     * @throws IllegalArgumentException if below 1 or above 100
     */
    public Builder maxAttempts(int attempts) {
      if (attempts < 1 || attempts > 100) {
        throw new IllegalArgumentException("maxAttempts must be in [1, 100]: " + attempts);
      }
      this.maxAttempts = attempts;
      return this;
    }

    /**
     * The backoff before the first retry, doubled before each next one up to {@link
     * #maxRetryDelay(Duration)}, with random jitter; default {@link #DEFAULT_INITIAL_RETRY_DELAY}
     * (100 ms).
     *
     * @throws IllegalArgumentException if not positive
     */
    public Builder initialRetryDelay(Duration delay) {
      this.initialRetryDelay = positive(delay, "initialRetryDelay");
      return this;
    }

    /**
     * The cap on the backoff between retries; default {@link #DEFAULT_MAX_RETRY_DELAY} (2 s).
     *
     * @throws IllegalArgumentException if not positive
     */
    public Builder maxRetryDelay(Duration delay) {
      this.maxRetryDelay = positive(delay, "maxRetryDelay");
      return this;
    }

    /**
     * A provider with this configuration. Opens nothing: the client is created at the first KMS
     * call.
     *
     * @throws IllegalArgumentException if the attempt timeout exceeds the total timeout, or the
     *     initial retry delay exceeds the maximum
     */
    public GcpKmsProvider build() {
      if (attemptTimeout.compareTo(totalTimeout) > 0) {
        throw new IllegalArgumentException(
            "attemptTimeout " + attemptTimeout + " exceeds totalTimeout " + totalTimeout);
      }
      if (initialRetryDelay.compareTo(maxRetryDelay) > 0) {
        throw new IllegalArgumentException(
            "initialRetryDelay " + initialRetryDelay + " exceeds maxRetryDelay " + maxRetryDelay);
      }
      return new GcpKmsProvider(this);
    }

    KeyManagementServiceSettings settings() {
      KeyManagementServiceSettings.Builder b = KeyManagementServiceSettings.newBuilder();
      b.setCredentialsProvider(
          credentials != null
              ? credentials
              : KeyManagementServiceSettings.defaultCredentialsProviderBuilder().build());
      b.setEndpoint(endpointOrDefault());
      if (transport != null) {
        b.setTransportChannelProvider(transport);
      }
      RetrySettings retry =
          RetrySettings.newBuilder()
              .setInitialRetryDelayDuration(initialRetryDelay)
              .setRetryDelayMultiplier(2.0)
              .setMaxRetryDelayDuration(maxRetryDelay)
              .setInitialRpcTimeoutDuration(attemptTimeout)
              .setRpcTimeoutMultiplier(1.0)
              .setMaxRpcTimeoutDuration(attemptTimeout)
              .setTotalTimeoutDuration(totalTimeout)
              .setMaxAttempts(maxAttempts)
              .build();
      for (UnaryCallSettings.Builder<?, ?> call :
          List.of(b.encryptSettings(), b.decryptSettings())) {
        call.setRetrySettings(retry).setRetryableCodes(RETRYABLE_CODES);
      }
      try {
        return b.build();
      } catch (IOException e) {
        // build() only copies settings; it declares IOException for subclasses that load files.
        throw new KeyManagerConfigException("Invalid Google Cloud KMS settings: " + e, e);
      }
    }

    private static Duration positive(Duration d, String name) {
      requireNonNull(d, name);
      if (d.isNegative() || d.isZero()) {
        throw new IllegalArgumentException(name + " must be positive: " + d);
      }
      return d;
    }
  }
}
