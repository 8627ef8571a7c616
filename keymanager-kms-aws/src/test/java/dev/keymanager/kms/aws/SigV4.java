package dev.keymanager.kms.aws;

import static java.nio.charset.StandardCharsets.UTF_8;

import com.sun.net.httpserver.HttpExchange;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Checks an AWS Signature Version 4 on a request to {@link FakeAwsKms}, as the service does, so the
 * tests prove the SDK really signed what it sent (headers, body, credential scope), not merely that
 * an {@code Authorization} header was present. Covers what the SDK's JSON protocol sends: {@code
 * POST /}, no query string, a signed body hash.
 */
final class SigV4 {
  private static final Pattern AUTHORIZATION =
      Pattern.compile(
          "AWS4-HMAC-SHA256 Credential=([^/]+)/(\\d{8})/([^/]+)/([^/]+)/aws4_request,"
              + " ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})");

  private static final Pattern SEMICOLON = Pattern.compile(";");

  private SigV4() {}

  /**
   * The KMS error type to answer with if the request is not validly signed by {@code accessKeyId},
   * else empty.
   */
  static Optional<String> verify(
      HttpExchange exchange, String body, String accessKeyId, String secretKey) {
    String authorization = exchange.getRequestHeaders().getFirst("Authorization");
    if (authorization == null) {
      return Optional.of("MissingAuthenticationTokenException");
    }
    Matcher m = AUTHORIZATION.matcher(authorization);
    if (!m.matches()) {
      return Optional.of("IncompleteSignatureException");
    }
    if (!m.group(1).equals(accessKeyId)) {
      return Optional.of("UnrecognizedClientException");
    }
    String date = m.group(2);
    String region = m.group(3);
    String service = m.group(4);
    String amzDate = exchange.getRequestHeaders().getFirst("X-Amz-Date");
    if (!service.equals("kms") || amzDate == null || !amzDate.startsWith(date)) {
      return Optional.of("InvalidSignatureException");
    }
    String payloadHash = hex(sha256(body.getBytes(UTF_8)));
    String sentHash = exchange.getRequestHeaders().getFirst("X-Amz-Content-Sha256");
    if (sentHash != null && !sentHash.equals(payloadHash)) {
      return Optional.of("InvalidSignatureException");
    }
    StringBuilder canonical = new StringBuilder();
    canonical.append(exchange.getRequestMethod()).append('\n');
    canonical.append(exchange.getRequestURI().getRawPath()).append('\n');
    String query = exchange.getRequestURI().getRawQuery();
    canonical.append(query == null ? "" : query).append('\n');
    String signedHeaders = m.group(5);
    for (String name : SEMICOLON.split(signedHeaders, -1)) {
      List<String> values = exchange.getRequestHeaders().get(name);
      if (values == null) {
        return Optional.of("InvalidSignatureException");
      }
      canonical
          .append(name.toLowerCase(Locale.ROOT))
          .append(':')
          .append(String.join(",", values).trim().replaceAll(" +", " "))
          .append('\n');
    }
    canonical.append('\n').append(signedHeaders).append('\n').append(payloadHash);
    String scope = date + "/" + region + "/" + service + "/aws4_request";
    String stringToSign =
        "AWS4-HMAC-SHA256\n"
            + amzDate
            + "\n"
            + scope
            + "\n"
            + hex(sha256(canonical.toString().getBytes(UTF_8)));
    byte[] key = hmac(("AWS4" + secretKey).getBytes(UTF_8), date);
    key = hmac(key, region);
    key = hmac(key, service);
    key = hmac(key, "aws4_request");
    String expected = hex(hmac(key, stringToSign));
    return MessageDigest.isEqual(expected.getBytes(UTF_8), m.group(6).getBytes(UTF_8))
        ? Optional.empty()
        : Optional.of("InvalidSignatureException");
  }

  private static byte[] sha256(byte[] data) {
    try {
      return MessageDigest.getInstance("SHA-256").digest(data);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private static byte[] hmac(byte[] key, String data) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      return mac.doFinal(data.getBytes(UTF_8));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String hex(byte[] bytes) {
    return HexFormat.of().formatHex(bytes);
  }
}
