package dev.keymanager.kms.aws;

import static java.util.Objects.requireNonNull;

import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.auth.credentials.AwsCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.http.SdkHttpClient;
import software.amazon.awssdk.http.urlconnection.UrlConnectionHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.retries.api.RetryStrategy;
import software.amazon.awssdk.services.kms.KmsClient;
import software.amazon.awssdk.services.kms.KmsClientBuilder;

/**
 * The {@code aws-kms} provider: CMKs in AWS KMS, named {@code
 * aws-kms://arn:aws:kms:REGION:ACCOUNT:key/KEY-ID} or by an alias ARN {@code
 * aws-kms://arn:aws:kms:REGION:ACCOUNT:alias/NAME}.
 *
 * <p>Wrapping is KMS {@code Encrypt} and unwrapping KMS {@code Decrypt}, always with the {@code
 * KeyId} set to the URI's ARN (the ciphertext never chooses the key) and the {@link
 * dev.keymanager.KeyContext} sent as the KMS encryption context, which KMS authenticates and
 * CloudTrail records. The key each response names is checked against the key asked for; a response
 * naming another key is discarded with {@link dev.keymanager.KeyAccessDeniedException}. The IAM
 * permissions needed are {@code kms:Encrypt} and {@code kms:Decrypt} on the key; {@code
 * kms:Decrypt} alone for a key manager that only imports and reads KEKs.
 *
 * <p><b>Aliases.</b> KMS resolves an alias to the key it points to at the time of each request and
 * answers with that key's ARN, so for an alias URI the response check can only confirm a key of the
 * alias's partition, region and account. Pointing the alias at another key makes the KEKs wrapped
 * under the old key fail to unwrap ({@code IncorrectKeyException}, reported as access denied) until
 * they are moved to the new CMK: prefer key ARNs, and rotate with KMS automatic key rotation, which
 * keeps the key ARN.
 *
 * <p><b>Errors</b> (the SDK exception is always the cause): {@code DisabledException}, {@code
 * KMSInvalidStateException} (pending deletion, among others), {@code NotFoundException}, {@code
 * AccessDeniedException} and other refusals of the caller, and {@code IncorrectKeyException} map to
 * {@link dev.keymanager.KeyAccessDeniedException}; KMS's {@code InvalidCiphertextException} to
 * {@link dev.keymanager.InvalidCiphertextException}; throttling, {@code KMSInternalException},
 * {@code KeyUnavailableException}, {@code DependencyTimeoutException}, other 5xx answers, {@code
 * LimitExceededException}, timeouts and I/O failures, after the SDK's own retries, and an
 * interrupted calling thread (its interrupt flag set again) to {@link
 * dev.keymanager.KmsUnavailableException}; {@code InvalidKeyUsageException} (a key that cannot
 * encrypt) to {@link dev.keymanager.KeyManagerConfigException}; any other 4xx answer to {@link
 * dev.keymanager.KeyAccessDeniedException}. Ciphertext of another CMK is therefore reported as
 * access denied: with the {@code KeyId} pinned, KMS refuses it with {@code IncorrectKeyException}
 * before any authentication, and this provider maps that as the module's error table says.
 *
 * <p><b>Clients.</b> One {@link KmsClient} per region, opened at the first call for a CMK of that
 * region, shared by every CMK there, and closed by {@link #close()}. Creating a provider or an
 * unwrapper makes no network call. The HTTP client is the SDK's {@code url-connection-client}, on
 * the JDK's {@code HttpURLConnection}: it adds one 36 KB jar and no third-party dependency, where
 * the SDK's default Apache 5 client brings httpclient5 and the async Netty client several MB. A key
 * manager calls KMS once per KEK per cache TTL, so the Apache client's connection-pool tuning buys
 * nothing here. Pass any other {@link SdkHttpClient} with {@link
 * Builder#httpClient(SdkHttpClient)}.
 *
 * <p>The no-argument constructor, which {@link java.util.ServiceLoader} uses, gives the defaults of
 * {@link Builder}. Thread-safe.
 */
public final class AwsKmsProvider implements KmsProvider {
  /** The URI scheme this provider serves. */
  public static final String SCHEME = "aws-kms";

  /** The default bound on one HTTP attempt, {@link Builder#apiCallAttemptTimeout}. */
  public static final Duration DEFAULT_API_CALL_ATTEMPT_TIMEOUT = Duration.ofSeconds(3);

  /** The default bound on one call with its retries, {@link Builder#apiCallTimeout}. */
  public static final Duration DEFAULT_API_CALL_TIMEOUT = Duration.ofSeconds(10);

  /**
   * The default TCP connect timeout of the built-in HTTP client, {@link Builder#connectTimeout}.
   */
  public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(2);

  private static final Logger log = LoggerFactory.getLogger(AwsKmsProvider.class);

  private final Builder config;
  private final Map<String, KmsClient> clients = new TreeMap<>(); // by region; guarded by this
  private boolean closed; // guarded by this

  /**
   * A provider with every default of {@link Builder}; the constructor {@code ServiceLoader} uses.
   */
  public AwsKmsProvider() {
    this(new Builder());
  }

  private AwsKmsProvider(Builder builder) {
    this.config = builder.copy();
  }

  /** A builder with the defaults documented on each setter. */
  public static Builder builder() {
    return new Builder();
  }

  /** Returns {@value #SCHEME}. */
  @Override
  public String scheme() {
    return SCHEME;
  }

  /**
   * An unwrapper for the key or alias at {@code cmkUri}, pinning its ARN as the {@code KeyId} of
   * every {@code Decrypt}. Makes no network call.
   *
   * @throws dev.keymanager.KeyManagerConfigException if the URI is not an {@code aws-kms} URI
   *     holding a KMS key or alias ARN
   */
  @Override
  public KmsUnwrapper unwrapper(URI cmkUri) {
    return key(cmkUri);
  }

  /**
   * A wrapper for the key or alias at {@code cmkUri}, never empty. Makes no network call.
   *
   * @throws dev.keymanager.KeyManagerConfigException if the URI is malformed
   */
  @Override
  public Optional<KmsWrapper> wrapper(URI cmkUri) {
    return Optional.of(key(cmkUri));
  }

  /**
   * Closes every KMS client this provider opened (not an HTTP client or credentials provider passed
   * to its builder: their owner closes them). Later calls fail with {@link IllegalStateException}.
   * Idempotent.
   */
  @Override
  public void close() {
    List<KmsClient> toClose;
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      toClose = new ArrayList<>(clients.values());
      clients.clear();
    }
    for (KmsClient client : toClose) {
      try {
        client.close();
      } catch (RuntimeException e) {
        log.warn("Closing an AWS KMS client failed", e);
      }
    }
  }

  /** The regions this provider has opened a client for; a seam for tests. */
  synchronized List<String> openRegions() {
    return List.copyOf(clients.keySet());
  }

  @Override
  public String toString() {
    return "AwsKmsProvider[regions=" + openRegions() + ", endpoint=" + config.endpoint + "]";
  }

  private AwsKmsKey key(URI cmkUri) {
    requireNonNull(cmkUri, "cmkUri");
    return new AwsKmsKey(cmkUri, KmsKeyArn.parse(cmkUri), this::client);
  }

  private synchronized KmsClient client(String region) {
    if (closed) {
      throw new IllegalStateException("AwsKmsProvider is closed");
    }
    return clients.computeIfAbsent(region, this::open);
  }

  private KmsClient open(String region) {
    KmsClientBuilder b =
        KmsClient.builder()
            .region(Region.of(region))
            .overrideConfiguration(
                o ->
                    o.apiCallTimeout(config.apiCallTimeout)
                        .apiCallAttemptTimeout(config.apiCallAttemptTimeout)
                        .retryStrategy(
                            config.retryStrategy != null
                                ? config.retryStrategy
                                : AwsRetryStrategy.standardRetryStrategy()));
    if (config.httpClient != null) {
      b.httpClient(config.httpClient);
    } else {
      // Built per KMS client, so the KMS client owns and closes it.
      b.httpClientBuilder(
          UrlConnectionHttpClient.builder()
              .connectionTimeout(config.connectTimeout)
              .socketTimeout(config.apiCallAttemptTimeout));
    }
    if (config.credentials != null) {
      b.credentialsProvider(config.credentials);
    }
    if (config.endpoint != null) {
      b.endpointOverride(config.endpoint);
    }
    log.debug(
        "Opening the AWS KMS client for region {} (endpoint {})",
        region,
        config.endpoint != null ? config.endpoint : "default");
    return b.build();
  }

  /**
   * Configures an {@link AwsKmsProvider}. Not thread-safe; reusable: {@link #build()} copies the
   * configuration.
   *
   * <pre>{@code
   * AwsKmsProvider kms = AwsKmsProvider.builder()
   *     .credentialsProvider(ProfileCredentialsProvider.create("storage-engine"))
   *     .endpointOverride(URI.create("https://vpce-0abc-kms.eu-west-1.vpce.amazonaws.com"))
   *     .apiCallTimeout(Duration.ofSeconds(5))
   *     .build();
   * KeyManager keys = KeyManagers.builder().kekStore(store).kmsProvider(kms).build();
   * }</pre>
   */
  public static final class Builder {
    private AwsCredentialsProvider credentials;
    private URI endpoint;
    private Duration apiCallTimeout = DEFAULT_API_CALL_TIMEOUT;
    private Duration apiCallAttemptTimeout = DEFAULT_API_CALL_ATTEMPT_TIMEOUT;
    private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
    private boolean connectTimeoutSet;
    private RetryStrategy retryStrategy;
    private SdkHttpClient httpClient;

    private Builder() {}

    /**
     * Where credentials come from; default: the SDK's default chain (environment, system
     * properties, web identity, the shared profile files, container and instance metadata), one per
     * KMS client and closed with it. A provider passed here is shared by every region's client and
     * not closed by {@link AwsKmsProvider#close()}.
     */
    public Builder credentialsProvider(AwsCredentialsProvider credentials) {
      this.credentials = requireNonNull(credentials, "credentials");
      return this;
    }

    /**
     * Sends every request to {@code endpoint} instead of the region's public KMS endpoint: a VPC
     * interface endpoint, a FIPS endpoint, or a local test server. Requests are still signed for
     * the region of the CMK's ARN, so with an override use CMKs of the endpoint's region. Default:
     * none.
     *
     * @throws IllegalArgumentException if not an absolute {@code http} or {@code https} URI with a
     *     host
     */
    public Builder endpointOverride(URI endpoint) {
      requireNonNull(endpoint, "endpoint");
      String scheme =
          endpoint.getScheme() == null ? "" : endpoint.getScheme().toLowerCase(Locale.ROOT);
      if (!(scheme.equals("https") || scheme.equals("http")) || endpoint.getHost() == null) {
        throw new IllegalArgumentException(
            "endpointOverride must be an http or https URI with a host: " + endpoint);
      }
      this.endpoint = endpoint;
      return this;
    }

    /**
     * The most one KMS call may take, every retry and backoff included; default {@link
     * #DEFAULT_API_CALL_TIMEOUT} (10 s). Past it the call fails with {@link
     * dev.keymanager.KmsUnavailableException}. This bounds how long a cache miss can block.
     *
     * @throws IllegalArgumentException if not positive
     */
    public Builder apiCallTimeout(Duration timeout) {
      this.apiCallTimeout = positive(timeout, "apiCallTimeout");
      return this;
    }

    /**
     * The most one HTTP attempt may take before it is abandoned (and retried if the retry strategy
     * allows); default {@link #DEFAULT_API_CALL_ATTEMPT_TIMEOUT} (3 s, against a KMS that answers
     * in milliseconds). Also the built-in HTTP client's socket read timeout.
     *
     * @throws IllegalArgumentException if not positive
     */
    public Builder apiCallAttemptTimeout(Duration timeout) {
      this.apiCallAttemptTimeout = positive(timeout, "apiCallAttemptTimeout");
      return this;
    }

    /**
     * The TCP connect timeout of the built-in HTTP client; default {@link #DEFAULT_CONNECT_TIMEOUT}
     * (2 s). Cannot be combined with {@link #httpClient}, which has its own.
     *
     * @throws IllegalArgumentException if not positive
     */
    public Builder connectTimeout(Duration timeout) {
      this.connectTimeout = positive(timeout, "connectTimeout");
      this.connectTimeoutSet = true;
      return this;
    }

    /**
     * How failed attempts are retried; default the SDK's standard strategy ({@code
     * AwsRetryStrategy.standardRetryStrategy()}: 3 attempts, exponential backoff with jitter, a
     * longer base delay after throttling, and a retry quota that stops retry storms), one per KMS
     * client. Throttling, 5xx answers, timeouts and I/O failures are retried; refusals are not. A
     * strategy passed here is shared by every region's client.
     */
    public Builder retryStrategy(RetryStrategy retryStrategy) {
      this.retryStrategy = requireNonNull(retryStrategy, "retryStrategy");
      return this;
    }

    /**
     * The HTTP client every KMS client uses; default a {@code UrlConnectionHttpClient} per KMS
     * client, with {@link #connectTimeout} and a socket timeout of {@link #apiCallAttemptTimeout}.
     * The caller keeps ownership: {@link AwsKmsProvider#close()} does not close it.
     */
    public Builder httpClient(SdkHttpClient httpClient) {
      this.httpClient = requireNonNull(httpClient, "httpClient");
      return this;
    }

    /**
     * Builds the provider. Makes no network call.
     *
     * @throws IllegalStateException if {@link #apiCallAttemptTimeout} exceeds {@link
     *     #apiCallTimeout}, or both {@link #connectTimeout} and {@link #httpClient} were set
     */
    public AwsKmsProvider build() {
      if (apiCallAttemptTimeout.compareTo(apiCallTimeout) > 0) {
        throw new IllegalStateException(
            "apiCallAttemptTimeout ("
                + apiCallAttemptTimeout
                + ") must not exceed apiCallTimeout ("
                + apiCallTimeout
                + ")");
      }
      if (connectTimeoutSet && httpClient != null) {
        throw new IllegalStateException(
            "connectTimeout configures the built-in HTTP client; set it on the httpClient passed"
                + " instead");
      }
      return new AwsKmsProvider(this);
    }

    private Builder copy() {
      Builder c = new Builder();
      c.credentials = credentials;
      c.endpoint = endpoint;
      c.apiCallTimeout = apiCallTimeout;
      c.apiCallAttemptTimeout = apiCallAttemptTimeout;
      c.connectTimeout = connectTimeout;
      c.connectTimeoutSet = connectTimeoutSet;
      c.retryStrategy = retryStrategy;
      c.httpClient = httpClient;
      return c;
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
