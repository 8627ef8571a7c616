package dev.keymanager.kms.azure;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.azure.json.JsonProviders;
import com.azure.json.JsonReader;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpsConfigurator;
import com.sun.net.httpserver.HttpsServer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigInteger;
import java.net.InetSocketAddress;
import java.net.URI;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.SecureRandom;
import java.security.interfaces.RSAPublicKey;
import java.security.spec.MGF1ParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Cipher;
import javax.crypto.spec.OAEPParameterSpec;
import javax.crypto.spec.PSource;
import javax.crypto.spec.SecretKeySpec;

/**
 * A Key Vault keys endpoint on 127.0.0.1 over HTTPS, speaking the wire protocol the real
 * CryptographyClient uses (api-version 2025-07-01): the 401 bearer challenge, {@code GET
 * /keys/NAME[/VERSION]}, {@code POST /keys/NAME/VERSION/wrapkey|unwrapkey}, and Key Vault's error
 * bodies {@code {"error":{"code","message","innererror":{"code"}}}}.
 *
 * <p>Semantics mirrored from the service: RSA-OAEP-256 with SHA-256 MGF1, A256KW (RFC 3394) for
 * {@code oct-HSM} keys, a disabled key still wraps but refuses unwrap (403 KeyDisabled), GET works
 * on a disabled key and shows {@code enabled:false}, an expired key refuses wrap (403) but still
 * unwraps, a key before its activation date refuses both, an undecryptable value is 400, a missing
 * key or version 404. Faults are injected per request (status, Retry-After, delay) and every
 * request is recorded.
 */
final class FakeKeyVault implements AutoCloseable {
  static final String TOKEN = "test-token";
  static final String TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47";
  private static final Pattern PATH =
      Pattern.compile("^/keys/([0-9A-Za-z-]+)(?:/([0-9A-Za-z]+))?(?:/(wrapkey|unwrapkey))?/?$");
  private static final SecureRandom RANDOM = new SecureRandom();
  private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
  private static final Base64.Decoder B64D = Base64.getUrlDecoder();
  private static final String ARRIVED = "arrived";
  private static final String AUTHORIZED = "authorized";

  /** One stored version of a key. */
  static final class Version {
    final String version;
    final String kty;
    final KeyPair rsa; // RSA keys
    final byte[] aes; // oct-HSM keys
    volatile boolean enabled = true;
    volatile Instant expires;
    volatile Instant notBefore;

    Version(String version, KeyPair rsa, byte[] aes) {
      this.version = version;
      this.rsa = rsa;
      this.aes = aes;
      this.kty = rsa != null ? "RSA" : "oct-HSM";
    }
  }

  /** What the fake saw: one line per answered HTTP request, with its arrival time. */
  record Request(String method, String path, boolean authorized, int status, long nanoTime) {}

  private record Fault(int status, String code, Map<String, String> headers, Duration delay) {}

  private final HttpsServer server;
  private final ExecutorService executor;
  private final Map<String, List<Version>> keys = new ConcurrentHashMap<>();
  private final List<Fault> faults = new CopyOnWriteArrayList<>();
  private final List<Request> requests = new CopyOnWriteArrayList<>();
  private final AtomicInteger versionCounter = new AtomicInteger();
  private volatile byte[] lastUnwrapped = new byte[0];
  private volatile boolean denyAccess;
  private volatile boolean rejectTokens;

  FakeKeyVault() {
    try {
      server = HttpsServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    server.setHttpsConfigurator(new HttpsConfigurator(TestCertificate.get().serverContext));
    executor =
        Executors.newCachedThreadPool(
            r -> {
              Thread t = new Thread(r, "fake-key-vault");
              t.setDaemon(true);
              return t;
            });
    server.setExecutor(executor);
    server.createContext("/", this::handle);
    server.start();
  }

  /** The base URL clients are pointed at, {@code https://127.0.0.1:PORT}. */
  URI baseUrl() {
    return URI.create("https://127.0.0.1:" + server.getAddress().getPort());
  }

  // ---- keys ----------------------------------------------------------------------------------

  /** Adds a new version of an RSA-2048 key (creating the key), which becomes current. */
  String addRsaVersion(String name) {
    try {
      KeyPairGenerator g = KeyPairGenerator.getInstance("RSA");
      g.initialize(2048);
      return addVersion(name, newVersionId(), g.generateKeyPair(), null);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Adds a new version of a Managed HSM AES-256 key ({@code oct-HSM}). */
  String addAesVersion(String name) {
    byte[] k = new byte[32];
    RANDOM.nextBytes(k);
    return addVersion(name, newVersionId(), null, k);
  }

  /** Adds a version with given material, for golden vectors. */
  String addVersion(String name, String version, KeyPair rsa, byte[] aes) {
    keys.computeIfAbsent(name.toLowerCase(Locale.ROOT), n -> new CopyOnWriteArrayList<>())
        .add(new Version(version, rsa, aes));
    return version;
  }

  private String newVersionId() {
    byte[] r = new byte[14];
    RANDOM.nextBytes(r);
    return String.format("%04x", versionCounter.incrementAndGet() & 0xffff)
        + HexFormat.of().formatHex(r);
  }

  /** Enables or disables every version of a key, as the portal's per-version switch would. */
  void setEnabled(String name, boolean enabled) {
    versions(name).forEach(v -> v.enabled = enabled);
  }

  void setExpires(String name, Instant expires) {
    versions(name).forEach(v -> v.expires = expires);
  }

  void setNotBefore(String name, Instant notBefore) {
    versions(name).forEach(v -> v.notBefore = notBefore);
  }

  /** Deletes a key and all its versions: later requests get 404 KeyNotFound. */
  void delete(String name) {
    keys.remove(name.toLowerCase(Locale.ROOT));
  }

  /** Every authorized request gets 403 Forbidden, as when the access policy or role is removed. */
  void denyAccess(boolean deny) {
    this.denyAccess = deny;
  }

  /** Every bearer token is refused with 401, as when the identity is not of the vault's tenant. */
  void rejectTokens(boolean reject) {
    this.rejectTokens = reject;
  }

  private List<Version> versions(String name) {
    List<Version> v = keys.get(name.toLowerCase(Locale.ROOT));
    if (v == null) {
      throw new IllegalArgumentException("no key " + name);
    }
    return v;
  }

  // ---- faults and observation ----------------------------------------------------------------

  /** The next {@code count} key requests answer {@code status} with {@code headers}. */
  void failNext(int count, int status, String code, Map<String, String> headers) {
    for (int i = 0; i < count; i++) {
      faults.add(new Fault(status, code, headers, Duration.ZERO));
    }
  }

  /** The next {@code count} key requests are answered normally, but only after {@code delay}. */
  void delayNext(int count, Duration delay) {
    for (int i = 0; i < count; i++) {
      faults.add(new Fault(0, null, Map.of(), delay));
    }
  }

  /** The value the last successful unwrapkey returned (the intermediate key), for secret scans. */
  byte[] lastUnwrapped() {
    return lastUnwrapped.clone();
  }

  void clearFaults() {
    faults.clear();
  }

  List<Request> requests() {
    return List.copyOf(requests);
  }

  /** Authorized requests whose path ends with {@code suffix} (such as "/unwrapkey"). */
  List<Request> requests(String method, String suffix) {
    List<Request> out = new ArrayList<>();
    for (Request r : requests) {
      if (r.authorized() && r.method().equals(method) && r.path().endsWith(suffix)) {
        out.add(r);
      }
    }
    return out;
  }

  void clearRequests() {
    requests.clear();
  }

  @Override
  public void close() {
    server.stop(0);
    executor.shutdownNow();
  }

  // ---- protocol ------------------------------------------------------------------------------

  private void handle(HttpExchange ex) throws IOException {
    ex.setAttribute(ARRIVED, System.nanoTime());
    String method = ex.getRequestMethod();
    String path = ex.getRequestURI().getPath();
    byte[] body = ex.getRequestBody().readAllBytes();
    String auth = ex.getRequestHeaders().getFirst("Authorization");
    boolean authorized = ("Bearer " + TOKEN).equals(auth) && !rejectTokens;
    ex.setAttribute(AUTHORIZED, authorized);
    int status;
    try {
      if (!authorized) {
        ex.getResponseHeaders()
            .add(
                "WWW-Authenticate",
                "Bearer authorization=\"https://login.microsoftonline.com/"
                    + TENANT
                    + "\", resource=\"https://vault.azure.net\"");
        status =
            error(ex, 401, "Unauthorized", "AKV10000: Request is missing a Bearer token.", null);
      } else if (!isApiVersionSet(ex)) {
        status = error(ex, 400, "BadParameter", "api-version is required", null);
      } else {
        status = serve(ex, method, path, body);
      }
    } catch (RuntimeException e) {
      status = error(ex, 500, "InternalError", e.toString(), null);
    }
    if (status < 0) {
      ex.close();
    }
  }

  private static boolean isApiVersionSet(HttpExchange ex) {
    String q = ex.getRequestURI().getRawQuery();
    return q != null && q.contains("api-version=");
  }

  private int serve(HttpExchange ex, String method, String path, byte[] body) throws IOException {
    if (!faults.isEmpty()) {
      Fault f = faults.remove(0);
      if (!f.delay().isZero()) {
        try {
          Thread.sleep(f.delay().toMillis()); // a slow server, not a test waiting on a TTL
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return -1;
        }
      } else {
        f.headers().forEach((k, v) -> ex.getResponseHeaders().add(k, v));
        return error(ex, f.status(), f.code(), "injected " + f.code(), null);
      }
    }
    if (denyAccess) {
      return error(
          ex,
          403,
          "Forbidden",
          "The user, group or application does not have keys permission on key vault."
              + " Inner error: ForbiddenByPolicy",
          "ForbiddenByPolicy");
    }
    Matcher m = PATH.matcher(path);
    if (!m.matches()) {
      return error(ex, 404, "NotFound", "no such resource", null);
    }
    String name = m.group(1);
    List<Version> all = keys.get(name.toLowerCase(Locale.ROOT));
    Version v = null;
    if (all != null && !all.isEmpty()) {
      if (m.group(2) == null) {
        v = all.get(all.size() - 1);
      } else {
        for (Version c : all) {
          if (c.version.equalsIgnoreCase(m.group(2))) {
            v = c;
          }
        }
      }
    }
    if (v == null) {
      String id = m.group(2) == null ? name : name + "/" + m.group(2);
      return error(
          ex,
          404,
          "KeyNotFound",
          "A key with (name/id) " + id + " was not found in this key vault.",
          null);
    }
    String op = m.group(3);
    if (op == null) {
      if (!"GET".equals(method)) {
        return error(ex, 405, "MethodNotAllowed", method, null);
      }
      return json(ex, 200, keyBundle(v));
    }
    if (!"POST".equals(method)) {
      return error(ex, 405, "MethodNotAllowed", method, null);
    }
    Instant now = Instant.now();
    if (v.notBefore != null && now.isBefore(v.notBefore)) {
      return error(
          ex,
          403,
          "Forbidden",
          "Operation " + op + " is not allowed before nbf.",
          "KeyNotYetValid");
    }
    Map<String, Object> req = parse(body);
    String alg = String.valueOf(req.get("alg"));
    byte[] value = B64D.decode(String.valueOf(req.get("value")));
    boolean wrap = "wrapkey".equals(op);
    if (wrap && v.expires != null && !now.isBefore(v.expires)) {
      return error(
          ex,
          403,
          "Forbidden",
          "Operation wrapKey is not allowed on an expired key.",
          "KeyExpired");
    }
    if (!wrap && !v.enabled) {
      return error(
          ex,
          403,
          "Forbidden",
          "Operation unwrapKey is not allowed on a disabled key.",
          "KeyDisabled");
    }
    String expectedAlg = v.rsa != null ? "RSA-OAEP-256" : "A256KW";
    if (!expectedAlg.equals(alg)) {
      return error(
          ex, 400, "BadParameter", "Algorithm " + alg + " is not supported for " + v.kty, null);
    }
    byte[] out;
    try {
      out = wrap ? wrapValue(v, value) : unwrapValue(v, value);
      if (!wrap) {
        lastUnwrapped = out.clone();
      }
    } catch (GeneralSecurityException e) {
      return error(ex, 400, "BadParameter", "The parameter is incorrect.", null);
    }
    return json(
        ex,
        200,
        "{\"kid\":\"" + kid(name, v) + "\",\"value\":\"" + B64.encodeToString(out) + "\"}");
  }

  private static byte[] wrapValue(Version v, byte[] value) throws GeneralSecurityException {
    if (v.rsa != null) {
      Cipher c = Cipher.getInstance("RSA/ECB/OAEPPadding");
      c.init(Cipher.ENCRYPT_MODE, v.rsa.getPublic(), oaep256());
      return c.doFinal(value);
    }
    Cipher c = Cipher.getInstance("AES/KW/NoPadding");
    c.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(v.aes, "AES"));
    return c.doFinal(value);
  }

  private static byte[] unwrapValue(Version v, byte[] value) throws GeneralSecurityException {
    if (v.rsa != null) {
      Cipher c = Cipher.getInstance("RSA/ECB/OAEPPadding");
      c.init(Cipher.DECRYPT_MODE, v.rsa.getPrivate(), oaep256());
      return c.doFinal(value);
    }
    Cipher c = Cipher.getInstance("AES/KW/NoPadding");
    c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(v.aes, "AES"));
    return c.doFinal(value);
  }

  static OAEPParameterSpec oaep256() {
    return new OAEPParameterSpec(
        "SHA-256", "MGF1", MGF1ParameterSpec.SHA256, PSource.PSpecified.DEFAULT);
  }

  private String kid(String name, Version v) {
    return baseUrl() + "/keys/" + name + "/" + v.version;
  }

  private String keyBundle(Version v) {
    StringBuilder key = new StringBuilder();
    key.append("{\"kid\":\"").append(kid(nameOf(v), v)).append("\",\"kty\":\"").append(v.kty);
    key.append("\",\"key_ops\":[\"wrapKey\",\"unwrapKey\",\"encrypt\",\"decrypt\"]");
    if (v.rsa != null) {
      RSAPublicKey pub = (RSAPublicKey) v.rsa.getPublic();
      key.append(",\"n\":\"").append(B64.encodeToString(unsigned(pub.getModulus())));
      key.append("\",\"e\":\"").append(B64.encodeToString(unsigned(pub.getPublicExponent())));
      key.append('"');
    }
    key.append('}');
    StringBuilder attrs = new StringBuilder("{\"enabled\":").append(v.enabled);
    if (v.expires != null) {
      attrs.append(",\"exp\":").append(v.expires.getEpochSecond());
    }
    if (v.notBefore != null) {
      attrs.append(",\"nbf\":").append(v.notBefore.getEpochSecond());
    }
    attrs.append(",\"created\":1767225600,\"updated\":1767225600");
    attrs.append(",\"recoveryLevel\":\"Recoverable+Purgeable\",\"recoverableDays\":90}");
    return "{\"key\":" + key + ",\"attributes\":" + attrs + "}";
  }

  private String nameOf(Version v) {
    for (Map.Entry<String, List<Version>> e : keys.entrySet()) {
      if (e.getValue().contains(v)) {
        return e.getKey();
      }
    }
    throw new IllegalStateException("orphan version");
  }

  private static byte[] unsigned(BigInteger i) {
    byte[] b = i.toByteArray();
    return b[0] == 0 && b.length > 1 ? java.util.Arrays.copyOfRange(b, 1, b.length) : b;
  }

  private static Map<String, Object> parse(byte[] body) throws IOException {
    try (JsonReader reader = JsonProviders.createReader(body)) {
      return reader.readMap(JsonReader::readUntyped);
    }
  }

  private int error(HttpExchange ex, int status, String code, String message, String inner)
      throws IOException {
    String innerJson = inner == null ? "" : ",\"innererror\":{\"code\":\"" + inner + "\"}";
    return json(
        ex,
        status,
        "{\"error\":{\"code\":\""
            + code
            + "\",\"message\":\""
            + message.replace("\"", "'")
            + "\""
            + innerJson
            + "}}");
  }

  /** Records the request, then answers it: a client that has its answer finds it recorded. */
  private int json(HttpExchange ex, int status, String body) throws IOException {
    requests.add(
        new Request(
            ex.getRequestMethod(),
            ex.getRequestURI().getPath(),
            Boolean.TRUE.equals(ex.getAttribute(AUTHORIZED)),
            status,
            (Long) ex.getAttribute(ARRIVED)));
    byte[] bytes = body.getBytes(UTF_8);
    ex.getResponseHeaders().add("Content-Type", "application/json; charset=utf-8");
    ex.getResponseHeaders().add("x-ms-keyvault-service-version", "1.9.0.0");
    ex.sendResponseHeaders(status, bytes.length);
    ex.getResponseBody().write(bytes);
    ex.close();
    return status;
  }
}
