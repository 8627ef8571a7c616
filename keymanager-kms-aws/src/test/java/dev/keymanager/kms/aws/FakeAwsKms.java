package dev.keymanager.kms.aws;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.Base64;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.awscore.retry.AwsRetryStrategy;
import software.amazon.awssdk.protocols.jsoncore.JsonNode;
import software.amazon.awssdk.retries.api.BackoffStrategy;
import software.amazon.awssdk.retries.api.RetryStrategy;

/**
 * A small AWS KMS endpoint on 127.0.0.1 for tests: the AWS JSON 1.1 protocol the real {@code
 * KmsClient} speaks ({@code POST /}, {@code X-Amz-Target: TrentService.Encrypt} or {@code
 * .Decrypt}), answering as the service does, as far as keymanager uses it.
 *
 * <ul>
 *   <li>Each key has its own random AES-256 key; ciphertext is {@code 0x01 | id length | key id |
 *       12-byte IV | AES-GCM(plaintext) with tag}, the header and the canonical (sorted) encryption
 *       context authenticated as associated data. So, as with real KMS, another context or any
 *       flipped bit gives {@code InvalidCiphertextException}, and a ciphertext of another key under
 *       a pinned {@code KeyId} gives {@code IncorrectKeyException}.
 *   <li>Keys are {@code Enabled}, {@code Disabled} or {@code PendingDeletion}; deleted keys are
 *       {@code NotFoundException}; access can be denied per key ({@code AccessDeniedException}).
 *       Aliases resolve to keys and can be re-pointed.
 *   <li>Error injection: the next N requests answer with a given status and error type (or a bare
 *       503 with an HTML body, as a load balancer would), requests can stall until released, and
 *       responses can name another key.
 *   <li>Every request is captured: target, headers, body.
 * </ul>
 *
 * <p>Requests must carry a valid SigV4 signature of {@link #ACCESS_KEY_ID} ({@link SigV4}), as the
 * service demands; the fake knows nothing of key policies beyond the deny switch. Thread-safe;
 * handler threads are daemons. Public, in the module's test-jar, for keymanager-docs, which runs
 * the README's sample against it.
 */
public final class FakeAwsKms implements AutoCloseable {
  public static final String REGION = "eu-west-1";
  static final String ACCOUNT = "111122223333";
  static final String PARTITION = "aws";

  /** The key states the fake models. */
  enum KeyState {
    ENABLED,
    DISABLED,
    PENDING_DELETION
  }

  /** One captured request. */
  public record Request(String target, Map<String, List<String>> headers, String body) {
    /** The first value of a header, by case-insensitive name. */
    Optional<String> header(String name) {
      return headers.entrySet().stream()
          .filter(e -> e.getKey().equalsIgnoreCase(name))
          .map(e -> e.getValue().get(0))
          .findFirst();
    }

    Map<String, JsonNode> json() {
      return JsonNode.parser().parse(body).asObject();
    }

    Optional<String> keyId() {
      return Optional.ofNullable(json().get("KeyId")).map(JsonNode::asString);
    }

    /** The EncryptionContext sent, or null if the field was absent. */
    Map<String, String> encryptionContext() {
      JsonNode ec = json().get("EncryptionContext");
      if (ec == null) {
        return null;
      }
      Map<String, String> m = new TreeMap<>();
      ec.asObject().forEach((k, v) -> m.put(k, v.asString()));
      return m;
    }
  }

  private record Injected(int status, String errorType) {}

  private static final class Key {
    final String id;
    final byte[] material;
    volatile KeyState state = KeyState.ENABLED;
    volatile boolean denied;

    Key(String id, byte[] material) {
      this.id = id;
      this.material = material;
    }
  }

  private static final SecureRandom RANDOM = new SecureRandom();

  private final HttpServer server;
  private final ExecutorService executor;
  private final Map<String, Key> keys = new ConcurrentHashMap<>();
  private final Map<String, String> aliases = new ConcurrentHashMap<>(); // "alias/x" -> key id
  private final Deque<Injected> injected = new ArrayDeque<>(); // guarded by itself
  private final List<Request> requests = new CopyOnWriteArrayList<>();
  private volatile CountDownLatch stall; // non-null: requests wait on it
  private volatile String answerKeyId; // non-null: every response names this key

  private FakeAwsKms(HttpServer server, ExecutorService executor) {
    this.server = server;
    this.executor = executor;
  }

  /** Starts the endpoint on an ephemeral port of 127.0.0.1. */
  public static FakeAwsKms start() {
    try {
      HttpServer server =
          HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
      ExecutorService executor =
          Executors.newCachedThreadPool(
              r -> {
                Thread t = new Thread(r, "fake-aws-kms");
                t.setDaemon(true);
                return t;
              });
      FakeAwsKms kms = new FakeAwsKms(server, executor);
      server.createContext("/", kms::handle);
      server.setExecutor(executor);
      server.start();
      return kms;
    } catch (IOException e) {
      throw new IllegalStateException("cannot start the fake KMS endpoint", e);
    }
  }

  /** The access key id the test providers sign with. */
  public static final String ACCESS_KEY_ID = "AKIDKEYMANAGERTEST";

  /** The secret key the endpoint verifies SigV4 signatures of {@link #ACCESS_KEY_ID} with. */
  public static final String SECRET_KEY = "not-a-real-secret";

  /**
   * A provider builder aimed at this endpoint, with static test credentials and fast, deterministic
   * retries: {@code attempts} attempts, no backoff, no retry quota.
   */
  AwsKmsProvider.Builder providerBuilder(int attempts) {
    return AwsKmsProvider.builder()
        .endpointOverride(endpoint())
        .credentialsProvider(
            StaticCredentialsProvider.create(AwsBasicCredentials.create(ACCESS_KEY_ID, SECRET_KEY)))
        .retryStrategy(fastRetries(attempts));
  }

  static RetryStrategy fastRetries(int attempts) {
    return AwsRetryStrategy.standardRetryStrategy().toBuilder()
        .maxAttempts(attempts)
        .backoffStrategy(BackoffStrategy.retryImmediately())
        .throttlingBackoffStrategy(BackoffStrategy.retryImmediately())
        .circuitBreakerEnabled(false)
        .build();
  }

  public URI endpoint() {
    InetAddress address = server.getAddress().getAddress();
    String host =
        address instanceof Inet6Address
            ? "[" + address.getHostAddress() + "]"
            : address.getHostAddress();
    return URI.create("http://" + host + ":" + server.getAddress().getPort());
  }

  /** Creates an enabled key and returns its id (a UUID, as in KMS). */
  public String createKey() {
    String id = UUID.randomUUID().toString();
    byte[] material = new byte[32];
    RANDOM.nextBytes(material);
    keys.put(id, new Key(id, material));
    return id;
  }

  static String keyArn(String keyId) {
    return "arn:" + PARTITION + ":kms:" + REGION + ":" + ACCOUNT + ":key/" + keyId;
  }

  static String aliasArn(String aliasName) {
    return "arn:" + PARTITION + ":kms:" + REGION + ":" + ACCOUNT + ":alias/" + aliasName;
  }

  /** The {@code aws-kms} URI of a key. */
  public static URI cmk(String keyId) {
    return URI.create("aws-kms://" + keyArn(keyId));
  }

  /** The {@code aws-kms} URI of an alias. */
  static URI aliasCmk(String aliasName) {
    return URI.create("aws-kms://" + aliasArn(aliasName));
  }

  /** Points {@code alias/NAME} at a key, creating or re-pointing the alias. */
  void pointAlias(String aliasName, String keyId) {
    aliases.put("alias/" + aliasName, keyId);
  }

  void setState(String keyId, KeyState state) {
    keys.get(keyId).state = state;
  }

  /** Deletes the key for good; its ciphertexts can never be decrypted again. */
  void deleteKey(String keyId) {
    keys.remove(keyId);
  }

  void denyAccess(String keyId, boolean denied) {
    keys.get(keyId).denied = denied;
  }

  /**
   * The next {@code count} requests answer with HTTP {@code status} and error type {@code
   * errorType}; a null type sends a bare HTML body, as a load balancer in front of KMS would.
   */
  void failNext(int count, int status, String errorType) {
    synchronized (injected) {
      for (int i = 0; i < count; i++) {
        injected.add(new Injected(status, errorType));
      }
    }
  }

  /** Requests from now on wait (without answering) until {@link #release()} or close. */
  void stall() {
    stall = new CountDownLatch(1);
  }

  void release() {
    CountDownLatch s = stall;
    stall = null;
    if (s != null) {
      s.countDown();
    }
  }

  /** Every successful response names {@code keyId} (an ARN) as the key used; null to stop. */
  void answerWithKeyId(String keyId) {
    this.answerKeyId = keyId;
  }

  List<Request> requests() {
    return List.copyOf(requests);
  }

  /** The captured requests of one target, such as {@code "TrentService.Decrypt"}. */
  public List<Request> requests(String target) {
    return requests.stream().filter(r -> target.equals(r.target())).toList();
  }

  void clearRequests() {
    requests.clear();
  }

  /** Clears every switch and injected failure; keys and aliases stay. */
  void reset() {
    synchronized (injected) {
      injected.clear();
    }
    release();
    answerKeyId = null;
    for (Key k : keys.values()) {
      k.state = KeyState.ENABLED;
      k.denied = false;
    }
    requests.clear();
  }

  @Override
  public void close() {
    release();
    server.stop(0);
    executor.shutdownNow();
  }

  // --- the protocol ---

  private void handle(HttpExchange exchange) throws IOException {
    try (exchange) {
      String body = new String(exchange.getRequestBody().readAllBytes(), UTF_8);
      String target = exchange.getRequestHeaders().getFirst("X-Amz-Target");
      Map<String, List<String>> headers = new LinkedHashMap<>();
      exchange.getRequestHeaders().forEach((k, v) -> headers.put(k, List.copyOf(v)));
      requests.add(new Request(target, headers, body));

      CountDownLatch s = stall;
      if (s != null) {
        try {
          s.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        return; // the client has given up by now; close without answering
      }
      Injected failure;
      synchronized (injected) {
        failure = injected.poll();
      }
      if (failure != null) {
        if (failure.errorType() == null) {
          send(exchange, failure.status(), "text/html", "<html><body>Service Unavailable</body>");
        } else {
          error(exchange, failure.status(), failure.errorType(), "injected failure");
        }
        return;
      }
      Optional<String> refused = SigV4.verify(exchange, body, ACCESS_KEY_ID, SECRET_KEY);
      if (refused.isPresent()) {
        error(exchange, 400, refused.get(), "signature check failed");
        return;
      }
      if (!"POST".equals(exchange.getRequestMethod())
          || !"/".equals(exchange.getRequestURI().getPath())) {
        error(exchange, 404, "UnknownOperationException", "not found");
        return;
      }
      Map<String, JsonNode> json;
      try {
        json = JsonNode.parser().parse(body).asObject();
      } catch (RuntimeException e) {
        error(exchange, 400, "SerializationException", "malformed JSON");
        return;
      }
      try {
        String response =
            switch (target == null ? "" : target) {
              case "TrentService.Encrypt" -> encrypt(json);
              case "TrentService.Decrypt" -> decrypt(json);
              default -> throw new KmsError(400, "UnknownOperationException", "unknown " + target);
            };
        send(exchange, 200, "application/x-amz-json-1.1", response);
      } catch (KmsError e) {
        error(exchange, e.status, e.type, e.getMessage());
      }
    }
  }

  private String encrypt(Map<String, JsonNode> json) {
    Key key = usableKey(required(json, "KeyId"), "kms:Encrypt");
    byte[] plaintext = blob(json, "Plaintext");
    if (plaintext.length < 1 || plaintext.length > 4096) {
      throw new KmsError(400, "ValidationException", "Plaintext must be 1 to 4096 bytes");
    }
    byte[] header = header(key.id);
    byte[] iv = new byte[12];
    RANDOM.nextBytes(iv);
    byte[] sealed = gcm(Cipher.ENCRYPT_MODE, key, iv, aad(header, context(json)), plaintext);
    byte[] blob =
        ByteBuffer.allocate(header.length + iv.length + sealed.length)
            .put(header)
            .put(iv)
            .put(sealed)
            .array();
    return object(
        "CiphertextBlob",
        Base64.getEncoder().encodeToString(blob),
        "KeyId",
        responseKeyId(key),
        "EncryptionAlgorithm",
        "SYMMETRIC_DEFAULT");
  }

  private String decrypt(Map<String, JsonNode> json) {
    byte[] blob = blob(json, "CiphertextBlob");
    Optional<String> pinned = Optional.ofNullable(json.get("KeyId")).map(JsonNode::asString);
    Key key = pinned.map(id -> usableKey(id, "kms:Decrypt")).orElse(null);
    ByteBuffer in = ByteBuffer.wrap(blob);
    if (in.remaining() < 2 || in.get() != 1) {
      throw invalidCiphertext();
    }
    int idLength = in.get() & 0xff;
    if (in.remaining() < idLength + 12 + 16) {
      throw invalidCiphertext();
    }
    byte[] id = new byte[idLength];
    in.get(id);
    Key owner = keys.get(new String(id, UTF_8));
    if (owner == null) {
      throw invalidCiphertext();
    }
    if (key == null) {
      key = usableKey(owner.id, "kms:Decrypt");
    } else if (key != owner) {
      throw new KmsError(
          400,
          "IncorrectKeyException",
          "The key ID in the request does not identify a KMS key that can perform this operation.");
    }
    byte[] iv = new byte[12];
    in.get(iv);
    byte[] sealed = new byte[in.remaining()];
    in.get(sealed);
    byte[] plaintext =
        gcm(Cipher.DECRYPT_MODE, key, iv, aad(header(key.id), context(json)), sealed);
    return object(
        "Plaintext",
        Base64.getEncoder().encodeToString(plaintext),
        "KeyId",
        responseKeyId(key),
        "EncryptionAlgorithm",
        "SYMMETRIC_DEFAULT");
  }

  /** Resolves a KeyId (key id, key ARN, alias name or alias ARN) and checks access and state. */
  private Key usableKey(String keyId, String action) {
    String id = keyId;
    String prefix = "arn:" + PARTITION + ":kms:" + REGION + ":" + ACCOUNT + ":";
    if (id.startsWith(prefix)) {
      id = id.substring(prefix.length());
    } else if (id.startsWith("arn:")) {
      throw new KmsError(400, "NotFoundException", "Invalid arn " + keyId);
    }
    if (id.startsWith("alias/")) {
      id = aliases.get(id);
      if (id == null) {
        throw new KmsError(400, "NotFoundException", "Alias " + keyId + " is not found.");
      }
    } else if (id.startsWith("key/")) {
      id = id.substring(4);
    }
    Key key = keys.get(id);
    if (key == null) {
      throw new KmsError(400, "NotFoundException", "Key '" + keyArn(id) + "' does not exist");
    }
    if (key.denied) {
      throw new KmsError(
          400,
          "AccessDeniedException",
          "User: arn:aws:iam::"
              + ACCOUNT
              + ":user/test is not authorized to perform: "
              + action
              + " on resource: "
              + keyArn(id));
    }
    switch (key.state) {
      case DISABLED -> throw new KmsError(400, "DisabledException", keyArn(id) + " is disabled.");
      case PENDING_DELETION ->
          throw new KmsError(400, "KMSInvalidStateException", keyArn(id) + " is pending deletion.");
      case ENABLED -> {}
    }
    return key;
  }

  private String responseKeyId(Key key) {
    String forced = answerKeyId;
    return forced != null ? forced : keyArn(key.id);
  }

  private static byte[] header(String keyId) {
    byte[] id = keyId.getBytes(UTF_8);
    byte[] h = new byte[2 + id.length];
    h[0] = 1;
    h[1] = (byte) id.length;
    System.arraycopy(id, 0, h, 2, id.length);
    return h;
  }

  private static Map<String, String> context(Map<String, JsonNode> json) {
    Map<String, String> sorted = new TreeMap<>();
    JsonNode ec = json.get("EncryptionContext");
    if (ec != null) {
      ec.asObject().forEach((k, v) -> sorted.put(k, v.asString()));
    }
    return sorted;
  }

  /** The header, then each context entry sorted by key as length-prefixed UTF-8. */
  private static byte[] aad(byte[] header, Map<String, String> sortedContext) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(header);
    for (Map.Entry<String, String> e : sortedContext.entrySet()) {
      for (String s : new String[] {e.getKey(), e.getValue()}) {
        byte[] b = s.getBytes(UTF_8);
        out.writeBytes(ByteBuffer.allocate(4).putInt(b.length).array());
        out.writeBytes(b);
      }
    }
    return out.toByteArray();
  }

  private static byte[] gcm(int mode, Key key, byte[] iv, byte[] aad, byte[] input) {
    try {
      Cipher cipher = Cipher.getInstance("AES/GCM/NoPadding");
      cipher.init(mode, new SecretKeySpec(key.material, "AES"), new GCMParameterSpec(128, iv));
      cipher.updateAAD(aad);
      return cipher.doFinal(input);
    } catch (GeneralSecurityException e) {
      throw invalidCiphertext();
    }
  }

  private static KmsError invalidCiphertext() {
    return new KmsError(400, "InvalidCiphertextException", null);
  }

  private static String required(Map<String, JsonNode> json, String field) {
    JsonNode n = json.get(field);
    if (n == null || !n.isString()) {
      throw new KmsError(400, "ValidationException", field + " is required");
    }
    return n.asString();
  }

  private static byte[] blob(Map<String, JsonNode> json, String field) {
    try {
      return Base64.getDecoder().decode(required(json, field));
    } catch (IllegalArgumentException e) {
      throw new KmsError(400, "SerializationException", field + " is not Base64");
    }
  }

  private static void error(HttpExchange exchange, int status, String type, String message)
      throws IOException {
    exchange.getResponseHeaders().add("x-amzn-ErrorType", type);
    send(
        exchange,
        status,
        "application/x-amz-json-1.1",
        message == null ? object("__type", type) : object("__type", type, "message", message));
  }

  private static void send(HttpExchange exchange, int status, String contentType, String body)
      throws IOException {
    byte[] bytes = body.getBytes(UTF_8);
    exchange.getResponseHeaders().add("Content-Type", contentType);
    exchange.getResponseHeaders().add("x-amzn-RequestId", UUID.randomUUID().toString());
    exchange.sendResponseHeaders(status, bytes.length);
    try (OutputStream out = exchange.getResponseBody()) {
      out.write(bytes);
    }
  }

  /** A JSON object of string fields, from alternating names and values. */
  private static String object(String... namesAndValues) {
    StringBuilder b = new StringBuilder("{");
    for (int i = 0; i < namesAndValues.length; i += 2) {
      if (i > 0) {
        b.append(',');
      }
      b.append(quote(namesAndValues[i])).append(':').append(quote(namesAndValues[i + 1]));
    }
    return b.append('}').toString();
  }

  private static String quote(String s) {
    StringBuilder b = new StringBuilder("\"");
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"' -> b.append("\\\"");
        case '\\' -> b.append("\\\\");
        default -> {
          if (c < 0x20) {
            b.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
          } else {
            b.append(c);
          }
        }
      }
    }
    return b.append('"').toString();
  }

  /** An error answer of the service. */
  private static final class KmsError extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final int status;
    final String type;

    KmsError(int status, String type, String message) {
      super(message, null, false, false);
      this.status = status;
      this.type = type;
    }
  }
}
