package dev.keymanager.kms.pkcs11;

import static java.util.Objects.requireNonNull;

import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.spi.KmsProvider;
import dev.keymanager.spi.KmsUnwrapper;
import dev.keymanager.spi.KmsWrapper;
import java.net.URI;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The {@code pkcs11} provider: CMKs that are AES keys inside an HSM (or any PKCS#11 token), named
 * after RFC 7512 as {@code pkcs11:token=TOKEN-LABEL;object=KEY-LABEL}, and used through the JDK's
 * own SunPKCS11 provider. No third-party PKCS#11 wrapper is needed.
 *
 * <p>Wrapping is {@code CKM_AES_GCM} encryption inside the token with a fresh 96-bit IV and the
 * {@link dev.keymanager.KeyContext} (with the blob's header) as associated data; unwrapping is the
 * matching decryption, after checking that the blob was made under this CMK's key object. The
 * format is versioned ({@code docs/kms-pkcs11.md}). The key never leaves the token: a key object
 * whose value SunPKCS11 could read (neither {@code CKA_SENSITIVE} nor unextractable) is refused.
 *
 * <p><b>Configuration.</b> The URI names only the token and the key. The PKCS#11 library, the slot
 * of each token and its user PIN come from {@link #builder()}, from a configuration file ({@link
 * #fromConfigFile(Path)}), or, for the no-argument constructor that {@link java.util.ServiceLoader}
 * uses, from the file named by the environment variable {@value #CONFIG_ENV}, read at the first
 * use. SunPKCS11 cannot read a token's label, so the configuration maps each label to its slot; the
 * label in a URI selects which configured token is used.
 *
 * <p><b>Errors</b> (the JDK exception is the cause; the PKCS#11 return value, {@code CKR_...}, is
 * in the message): a wrong or locked PIN, a key object that is not (or no longer) on the token, and
 * a key that the token does not let us use ({@code CKR_KEY_FUNCTION_NOT_PERMITTED} and the like)
 * map to {@link dev.keymanager.KeyAccessDeniedException}; a slot or token that is not there, a
 * device error, sessions the token closed (after one re-login), no free session within {@link
 * Builder#sessionTimeout(Duration)} and an interrupted caller to {@link
 * dev.keymanager.KmsUnavailableException}; a failed GCM tag, a malformed blob and a blob made under
 * another key object to {@link dev.keymanager.InvalidCiphertextException}; an unknown token label
 * or a missing library to {@link KeyManagerConfigException}.
 *
 * <p>Thread-safe. {@link #close()} logs out of every token this provider opened and wipes the PINs;
 * PKCS#11 login is per token and process, so another provider of the same process on the same token
 * logs in again at its next call.
 */
public final class Pkcs11KmsProvider implements KmsProvider {
  /** The URI scheme this provider serves. */
  public static final String SCHEME = "pkcs11";

  /**
   * The environment variable naming the configuration file of a provider made by the no-argument
   * constructor.
   */
  public static final String CONFIG_ENV = "KEYMANAGER_PKCS11_CONFIG";

  /** The default {@link Builder#maxSessions(int)}. */
  public static final int DEFAULT_MAX_SESSIONS = 4;

  /** The default {@link Builder#sessionTimeout(Duration)}. */
  public static final Duration DEFAULT_SESSION_TIMEOUT = Duration.ofSeconds(5);

  private final SecureRandom random = new SecureRandom();
  private Map<String, Pkcs11Token> tokens; // by label; null until loaded; guarded by this
  private final Path configFile; // for the lazy form; null if built
  private boolean closed; // guarded by this

  /**
   * A provider configured from the file named by {@value #CONFIG_ENV}, read at the first use; the
   * constructor {@code ServiceLoader} uses. Without that variable every CMK is a configuration
   * error that says how to configure one.
   */
  public Pkcs11KmsProvider() {
    String env = System.getenv(CONFIG_ENV);
    this.configFile = env == null || env.isBlank() ? null : Path.of(env);
    this.tokens = null;
  }

  private Pkcs11KmsProvider(Map<String, Pkcs11Token> tokens) {
    this.configFile = null;
    this.tokens = tokens;
  }

  /** A builder with the defaults documented on each setter. */
  public static Builder builder() {
    return new Builder();
  }

  /**
   * A provider configured from the properties file {@code file} (see {@code docs/kms-pkcs11.md}):
   *
   * <pre>
   * library = /usr/lib/softhsm/libsofthsm2.so
   * token.engine.slot = 1234
   * token.engine.pin.file = /run/secrets/hsm-pin    (or token.engine.pin.env = HSM_PIN)
   * maxSessions = 4
   * sessionTimeout = PT5S
   * </pre>
   *
   * Reads the file and the PIN files or variables now; does not contact the token.
   *
   * @throws KeyManagerConfigException if the file or a PIN cannot be read or is malformed
   */
  public static Pkcs11KmsProvider fromConfigFile(Path file) {
    requireNonNull(file, "file");
    return Pkcs11Config.read(file).build();
  }

  /** Returns {@value #SCHEME}. */
  @Override
  public String scheme() {
    return SCHEME;
  }

  /**
   * An unwrapper for the key object {@code cmkUri} names. Does not contact the token.
   *
   * @throws KeyManagerConfigException if the URI is malformed or names a token that is not
   *     configured
   */
  @Override
  public KmsUnwrapper unwrapper(URI cmkUri) {
    return key(cmkUri, random);
  }

  /**
   * A wrapper for the key object {@code cmkUri} names, never empty. Does not contact the token.
   *
   * @throws KeyManagerConfigException if the URI is malformed or names a token that is not
   *     configured
   */
  @Override
  public Optional<KmsWrapper> wrapper(URI cmkUri) {
    return Optional.of(key(cmkUri, random));
  }

  /**
   * Generates the CMK {@code cmkUri} names: an AES-256 key object on the token with that label,
   * {@code CKA_TOKEN}, {@code CKA_SENSITIVE}, not {@code CKA_EXTRACTABLE}, allowed to encrypt and
   * decrypt. For development and tests; in production the HSM's own tools usually create keys under
   * the security officer's policy.
   *
   * @throws KeyManagerConfigException if the URI is malformed, its token is not configured, or the
   *     token already holds an object with that label
   * @throws dev.keymanager.KeyAccessDeniedException if the token refuses the login or the key
   * @throws dev.keymanager.KmsUnavailableException if the token cannot be reached
   */
  public void generateKey(URI cmkUri) {
    Pkcs11Uri name = Pkcs11Uri.parse(requireNonNull(cmkUri, "cmkUri"));
    token(name, cmkUri).generate(name.object(), "generate pkcs11 CMK " + cmkUri);
  }

  /**
   * Logs out of every token this provider opened and wipes the PINs it holds. Later calls fail with
   * {@link IllegalStateException}. Idempotent.
   */
  @Override
  public void close() {
    List<Pkcs11Token> toClose;
    synchronized (this) {
      if (closed) {
        return;
      }
      closed = true;
      toClose = tokens == null ? List.of() : new ArrayList<>(tokens.values());
    }
    for (Pkcs11Token t : toClose) {
      t.close();
    }
  }

  @Override
  public synchronized String toString() {
    return "Pkcs11KmsProvider["
        + (tokens == null ? "configured by " + CONFIG_ENV : tokens.values().toString())
        + "]";
  }

  /** A key with {@code random} for its IVs; a seam for the golden-vector tests. */
  Pkcs11Key key(URI cmkUri, SecureRandom random) {
    requireNonNull(cmkUri, "cmkUri");
    Pkcs11Uri name = Pkcs11Uri.parse(cmkUri);
    return new Pkcs11Key(cmkUri, name, token(name, cmkUri), random);
  }

  /** The configured token labelled {@code label}; a seam for tests. */
  @VisibleForTesting
  synchronized Pkcs11Token token(String label) {
    Pkcs11Token t = tokens().get(label);
    if (t == null) {
      throw new IllegalArgumentException("no token " + label);
    }
    return t;
  }

  private synchronized Pkcs11Token token(Pkcs11Uri name, URI cmkUri) {
    if (closed) {
      throw new IllegalStateException("Pkcs11KmsProvider is closed");
    }
    Pkcs11Token t = tokens().get(name.token());
    if (t == null) {
      throw new KeyManagerConfigException(
          "pkcs11 CMK "
              + cmkUri
              + " names token '"
              + name.token()
              + "', which this provider is not configured for (configured: "
              + tokens().keySet()
              + "); add it to the provider's builder or configuration file");
    }
    return t;
  }

  private Map<String, Pkcs11Token> tokens() {
    if (tokens == null) {
      if (configFile == null) {
        throw new KeyManagerConfigException(
            "The pkcs11 provider found on the class path has no configuration: set "
                + CONFIG_ENV
                + " to a configuration file, or pass Pkcs11KmsProvider.builder()...build() to the"
                + " key manager's builder");
      }
      Pkcs11KmsProvider loaded = Pkcs11Config.read(configFile).build();
      tokens = loaded.tokens;
    }
    return tokens;
  }

  /**
   * Configures a {@link Pkcs11KmsProvider}. Not thread-safe. {@link #build()} takes the PINs over
   * and wipes the builder's copies, so a builder builds once.
   *
   * <pre>{@code
   * char[] pin = readPinFromYourSecretStore();
   * Pkcs11KmsProvider hsm = Pkcs11KmsProvider.builder()
   *     .library(Path.of("/usr/lib/softhsm/libsofthsm2.so"))
   *     .token("engine", 1234, pin)
   *     .build();
   * Arrays.fill(pin, '\0');
   * }</pre>
   */
  public static final class Builder {
    private Path library;
    private final Map<String, Long> slots = new LinkedHashMap<>();
    private final Map<String, char[]> pins = new LinkedHashMap<>();
    private int maxSessions = DEFAULT_MAX_SESSIONS;
    private Duration sessionTimeout = DEFAULT_SESSION_TIMEOUT;
    private boolean built;

    private Builder() {}

    /** The PKCS#11 library of the HSM vendor, such as {@code libsofthsm2.so}. Required. */
    public Builder library(Path library) {
      this.library = requireNonNull(library, "library");
      return this;
    }

    /**
     * A token the provider may use: CMK URIs with {@code token=label} go to the slot with PKCS#11
     * slot id {@code slotId}, logged in as the user with {@code pin} (copied; the caller wipes its
     * own array). Repeatable, once per label.
     *
     * @throws IllegalArgumentException if the label is empty, longer than 32 UTF-8 bytes or given
     *     twice, the slot id is negative, or the PIN is empty
     */
    public Builder token(String label, long slotId, char[] pin) {
      requireNonNull(label, "label");
      requireNonNull(pin, "pin");
      if (label.isEmpty()
          || label.getBytes(java.nio.charset.StandardCharsets.UTF_8).length
              > Pkcs11Uri.MAX_TOKEN_LABEL) {
        throw new IllegalArgumentException("a token label has 1 to 32 UTF-8 bytes: " + label);
      }
      if (slots.containsKey(label)) {
        throw new IllegalArgumentException("token '" + label + "' is configured twice");
      }
      if (slotId < 0) {
        throw new IllegalArgumentException("slot id must be >= 0: " + slotId);
      }
      if (pin.length == 0) {
        throw new IllegalArgumentException("the PIN of token '" + label + "' is empty");
      }
      slots.put(label, slotId);
      pins.put(label, pin.clone());
      return this;
    }

    /**
     * How many operations may run on one token at once, each on its own session; default {@value
     * #DEFAULT_MAX_SESSIONS}. Callers beyond it wait up to {@link #sessionTimeout(Duration)}.
     *
     * @throws IllegalArgumentException if below 1
     */
    public Builder maxSessions(int maxSessions) {
      if (maxSessions < 1) {
        throw new IllegalArgumentException("maxSessions must be >= 1: " + maxSessions);
      }
      this.maxSessions = maxSessions;
      return this;
    }

    /**
     * The longest a call waits for a free session before it fails with {@link
     * dev.keymanager.KmsUnavailableException}; default {@link #DEFAULT_SESSION_TIMEOUT} (5 s). Keep
     * it below the key manager's {@code loadTimeout}.
     *
     * @throws IllegalArgumentException if not positive
     */
    public Builder sessionTimeout(Duration timeout) {
      requireNonNull(timeout, "timeout");
      if (timeout.isNegative() || timeout.isZero()) {
        throw new IllegalArgumentException("sessionTimeout must be positive: " + timeout);
      }
      this.sessionTimeout = timeout;
      return this;
    }

    /**
     * Builds the provider and wipes the builder's PIN copies. Does not contact the token.
     *
     * @throws IllegalStateException if no library or no token was given, or the builder was built
     *     already
     */
    public Pkcs11KmsProvider build() {
      if (built) {
        throw new IllegalStateException("this builder has built its provider already");
      }
      if (library == null) {
        throw new IllegalStateException("library(Path) is required");
      }
      if (slots.isEmpty()) {
        throw new IllegalStateException("at least one token(label, slotId, pin) is required");
      }
      built = true;
      Map<String, Pkcs11Token> tokens = new LinkedHashMap<>();
      for (Map.Entry<String, Long> e : slots.entrySet()) {
        char[] pin = pins.get(e.getKey());
        tokens.put(
            e.getKey(),
            new Pkcs11Token(e.getKey(), library, e.getValue(), pin, maxSessions, sessionTimeout));
        Arrays.fill(pin, '\0');
      }
      pins.clear();
      return new Pkcs11KmsProvider(tokens);
    }
  }
}
