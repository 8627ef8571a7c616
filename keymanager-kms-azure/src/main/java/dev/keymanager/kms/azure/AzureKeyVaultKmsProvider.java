package dev.keymanager.kms.azure;

import static java.util.Objects.requireNonNull;

import com.azure.core.credential.TokenCredential;
import com.azure.core.http.HttpClient;
import com.azure.core.http.netty.NettyAsyncHttpClientBuilder;
import com.azure.core.http.policy.RetryOptions;
import com.azure.identity.DefaultAzureCredentialBuilder;
import com.azure.security.keyvault.keys.cryptography.CryptographyClient;
import com.azure.security.keyvault.keys.cryptography.CryptographyClientBuilder;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import reactor.netty.resources.ConnectionProvider;

/**
 * The {@code azure-kv} KMS provider: Azure Key Vault and Managed HSM keys named {@code
 * azure-kv://VAULT.vault.azure.net/keys/NAME[/VERSION]} (or {@code HSM.managedhsm.azure.net}, and
 * the sovereign-cloud hosts), wrapped and unwrapped with the Azure SDK's {@code
 * CryptographyClient}.
 *
 * <h2>Wrapped form and how the key context is bound</h2>
 *
 * Key Vault's wrapKey/unwrapKey take no associated data, so the {@link dev.keymanager.KeyContext}
 * is bound with a local AEAD layer: each wrap draws a random 256-bit intermediate key, has Key
 * Vault wrap it (RSA-OAEP-256 for RSA keys, A256KW for Managed HSM AES keys), and seals the
 * caller's plaintext under it with AES-256-GCM, whose associated data is the header (algorithm, key
 * name, key version, Key Vault's output) followed by the context's canonical encoding. Layout in
 * {@code WrappedBlob}; golden vectors in the tests.
 *
 * <p>Why a local AEAD layer rather than a context digest inside the Key Vault plaintext: Key Vault
 * always wraps exactly 32 bytes, which every algorithm takes (A256KW needs a multiple of 8 bytes,
 * RSA-OAEP-256 on a 2048-bit key at most 190), whatever the caller's plaintext length; and the GCM
 * tag authenticates the whole header, so an edited algorithm or key version cannot go unnoticed.
 * Either design needs the Key Vault unwrap before a wrong context shows; a wrong context then fails
 * with {@link dev.keymanager.InvalidCiphertextException}. As with any KMS's associated data, the
 * binding stops mix-ups and confused deputies, not a principal who holds unwrapKey rights and can
 * present the right context.
 *
 * <p>The algorithm and the exact key version used are recorded in the wrapped form, so unwrap never
 * guesses: it calls that version, even when the URI names no version and the key has since been
 * rotated. A URI that pins a version refuses ciphertext made under another one, and any URI refuses
 * ciphertext made under another key name, both as {@code InvalidCiphertextException} without
 * calling Key Vault. Ciphertext of another vault's key of the same name reaches Key Vault, which
 * answers 404 ({@link dev.keymanager.KeyAccessDeniedException}).
 *
 * <h2>Wrap checks the key first</h2>
 *
 * A wrap first reads the key (the {@code get} permission) to learn its type, its current version
 * and whether it is enabled and within its activation and expiry dates: Key Vault itself performs
 * wrapKey with a disabled key's public part (it refuses only unwrapKey), so without this check a
 * KEK could be created under a key the customer has disabled.
 *
 * <h2>Clients</h2>
 *
 * One {@code CryptographyClient} per key version, built on first use and reused; the HTTP client,
 * credential and retry policy are shared by all of them. {@link #close()} drops the clients and
 * disposes the connection pool this provider opened (a caller-supplied HTTP client is the caller's
 * to close). Thread-safe.
 *
 * <p>A no-argument instance (what {@link java.util.ServiceLoader} makes) uses {@code
 * DefaultAzureCredential} (environment, workload identity, managed identity, Azure CLI, ...) and
 * the defaults of {@link Builder}.
 */
public final class AzureKeyVaultKmsProvider implements KmsProvider {
  /** The URI scheme served, {@value}. */
  public static final String SCHEME = "azure-kv";

  private static final Logger log = LoggerFactory.getLogger(AzureKeyVaultKmsProvider.class);

  private final Builder config;
  private final Map<URI, KeyVaultCmk> cmks = new ConcurrentHashMap<>();
  private final Object lock = new Object();
  private TokenCredential credential; // guarded by lock, made on first use
  private HttpClient httpClient; // guarded by lock, made on first use
  private ConnectionProvider ownedPool; // guarded by lock
  private volatile boolean closed;

  /** A provider with {@code DefaultAzureCredential} and the defaults of {@link Builder}. */
  public AzureKeyVaultKmsProvider() {
    this(new Builder());
  }

  private AzureKeyVaultKmsProvider(Builder b) {
    this.config = b.copy();
  }

  /** A builder for a provider with a chosen credential, HTTP client, timeouts or retries. */
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
   * <p>Ciphertext of another key name or another pinned version fails with {@link
   * dev.keymanager.InvalidCiphertextException} before any call; of another vault's key of the same
   * name with {@link dev.keymanager.KeyAccessDeniedException} (Key Vault answers 404).
   */
  @Override
  public KmsUnwrapper unwrapper(URI cmkUri) {
    return cmk(cmkUri);
  }

  @Override
  public Optional<KmsWrapper> wrapper(URI cmkUri) {
    return Optional.of(cmk(cmkUri));
  }

  private KeyVaultCmk cmk(URI cmkUri) {
    requireNonNull(cmkUri, "cmkUri");
    checkOpen();
    return cmks.computeIfAbsent(cmkUri, u -> new KeyVaultCmk(KeyVaultKeyId.parse(u), this));
  }

  /** A new client for one key version ("" for the key's current version). */
  CryptographyClient newClient(KeyVaultKeyId id, String version) {
    URI base = config.endpointOverride != null ? config.endpointOverride : id.serviceEndpoint();
    CryptographyClientBuilder b =
        new CryptographyClientBuilder()
            .keyIdentifier(id.keyUrl(base, version))
            .credential(credential())
            .httpClient(httpClient())
            // Every operation goes to the service: no local crypto with a cached copy of the key,
            // which would bypass the service's own checks (a disabled key, an access policy).
            .disableKeyCaching();
    if (config.retryOptions != null) {
      b.retryOptions(config.retryOptions);
    }
    if (config.endpointOverride != null) {
      // Tests only: the challenge names https://vault.azure.net, the request goes to 127.0.0.1.
      b.disableChallengeResourceVerification();
    }
    log.debug("Opening Azure Key Vault client for {} version '{}'", id.uri(), version);
    return b.buildClient();
  }

  private TokenCredential credential() {
    synchronized (lock) {
      checkOpen();
      if (credential == null) {
        credential =
            config.credential != null
                ? config.credential
                : new DefaultAzureCredentialBuilder().build();
      }
      return credential;
    }
  }

  private HttpClient httpClient() {
    synchronized (lock) {
      checkOpen();
      if (httpClient == null) {
        if (config.httpClient != null) {
          httpClient = config.httpClient;
        } else {
          ownedPool = ConnectionProvider.builder("keymanager-azure-kv").build();
          reactor.netty.http.client.HttpClient base =
              config.nettyCustomizer.apply(reactor.netty.http.client.HttpClient.create(ownedPool));
          httpClient =
              new NettyAsyncHttpClientBuilder(base)
                  .connectTimeout(config.connectTimeout)
                  .responseTimeout(config.responseTimeout)
                  .readTimeout(config.responseTimeout)
                  .build();
        }
      }
      return httpClient;
    }
  }

  void checkOpen() {
    if (closed) {
      throw new IllegalStateException("Azure Key Vault KMS provider is closed");
    }
  }

  /**
   * Drops every client and disposes the connection pool this provider opened. Later calls fail with
   * {@link IllegalStateException}. Idempotent.
   */
  @Override
  public void close() {
    ConnectionProvider pool;
    synchronized (lock) {
      if (closed) {
        return;
      }
      closed = true;
      cmks.clear();
      pool = ownedPool;
      ownedPool = null;
      httpClient = null;
      credential = null;
    }
    if (pool != null) {
      pool.dispose();
    }
  }

  /** Whether this provider opened its own connection pool and has not disposed it; for tests. */
  @VisibleForTesting
  boolean ownsOpenPool() {
    synchronized (lock) {
      return ownedPool != null && !ownedPool.isDisposed();
    }
  }

  @Override
  public String toString() {
    return "AzureKeyVaultKmsProvider["
        + cmks.size()
        + " keys open"
        + (closed ? ", closed" : "")
        + "]";
  }

  /**
   * Configures an {@link AzureKeyVaultKmsProvider}. Not thread-safe; reusable.
   *
   * <pre>{@code
   * KmsProvider azure = AzureKeyVaultKmsProvider.builder()
   *     .credential(new ManagedIdentityCredentialBuilder().build())
   *     .responseTimeout(Duration.ofSeconds(5))
   *     .retryOptions(new RetryOptions(new ExponentialBackoffOptions().setMaxRetries(2)))
   *     .build();
   * }</pre>
   */
  public static final class Builder {
    /** The default TCP connect timeout. */
    public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(10);

    /** The default wait for a response, and between reads of it. */
    public static final Duration DEFAULT_RESPONSE_TIMEOUT = Duration.ofSeconds(10);

    private TokenCredential credential;
    private HttpClient httpClient;
    private Duration connectTimeout = DEFAULT_CONNECT_TIMEOUT;
    private Duration responseTimeout = DEFAULT_RESPONSE_TIMEOUT;
    private boolean timeoutSet;
    private RetryOptions retryOptions;
    private URI endpointOverride;
    private UnaryOperator<reactor.netty.http.client.HttpClient> nettyCustomizer =
        UnaryOperator.identity();

    private Builder() {}

    private Builder copy() {
      Builder c = new Builder();
      c.credential = credential;
      c.httpClient = httpClient;
      c.connectTimeout = connectTimeout;
      c.responseTimeout = responseTimeout;
      c.timeoutSet = timeoutSet;
      c.retryOptions = retryOptions;
      c.endpointOverride = endpointOverride;
      c.nettyCustomizer = nettyCustomizer;
      return c;
    }

    /**
     * The identity that calls Key Vault; default {@code DefaultAzureCredential}, built on first use
     * (environment variables, workload identity, managed identity, Azure CLI, ...).
     */
    public Builder credential(TokenCredential credential) {
      this.credential = requireNonNull(credential, "credential");
      return this;
    }

    /**
     * The HTTP client for every Key Vault call, owned by the caller (the provider does not close
     * it). Default: a Netty client with its own connection pool, made on first use, with {@link
     * #connectTimeout} and {@link #responseTimeout}, and disposed by {@link
     * AzureKeyVaultKmsProvider#close()}. Set timeouts on a supplied client itself.
     */
    public Builder httpClient(HttpClient httpClient) {
      this.httpClient = requireNonNull(httpClient, "httpClient");
      return this;
    }

    /**
     * The TCP connect timeout of the default HTTP client; default {@link #DEFAULT_CONNECT_TIMEOUT}.
     *
     * @throws IllegalArgumentException if not positive
     */
    public Builder connectTimeout(Duration timeout) {
      this.connectTimeout = positive(timeout, "connectTimeout");
      this.timeoutSet = true;
      return this;
    }

    /**
     * How long the default HTTP client waits for a response after sending a request, and between
     * reads of it; default {@link #DEFAULT_RESPONSE_TIMEOUT}. A timeout counts as a transient
     * failure: the retry policy tries again, then the call fails with {@link
     * dev.keymanager.KmsUnavailableException}.
     *
     * @throws IllegalArgumentException if not positive
     */
    public Builder responseTimeout(Duration timeout) {
      this.responseTimeout = positive(timeout, "responseTimeout");
      this.timeoutSet = true;
      return this;
    }

    /**
     * Retries of throttled (429), failed (5xx, 408) and timed-out requests. Default: the Azure
     * SDK's, exponential backoff from 0.8 s up to 8 s, 3 retries. Every policy honours the
     * service's {@code Retry-After} / {@code retry-after-ms} header over its own delay.
     */
    public Builder retryOptions(RetryOptions retryOptions) {
      this.retryOptions = requireNonNull(retryOptions, "retryOptions");
      return this;
    }

    /**
     * Tests only: send every request to {@code base} (such as {@code https://127.0.0.1:PORT})
     * instead of the key's host, and accept the bearer challenge's resource although it does not
     * match that host.
     */
    @VisibleForTesting
    Builder endpointOverride(URI base) {
      this.endpointOverride = requireNonNull(base, "base");
      return this;
    }

    /** Tests only: adjust the default Netty client, such as trusting a test certificate. */
    @VisibleForTesting
    Builder nettyCustomizer(UnaryOperator<reactor.netty.http.client.HttpClient> customizer) {
      this.nettyCustomizer = requireNonNull(customizer, "customizer");
      return this;
    }

    /**
     * Builds the provider. Makes no network call and creates no client yet.
     *
     * @throws IllegalStateException if both an HTTP client and timeouts were set: timeouts apply
     *     only to the default client
     */
    public AzureKeyVaultKmsProvider build() {
      if (httpClient != null && timeoutSet) {
        throw new IllegalStateException(
            "connectTimeout/responseTimeout configure the default HTTP client; set them on the"
                + " supplied httpClient instead");
      }
      return new AzureKeyVaultKmsProvider(this);
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
