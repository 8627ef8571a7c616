package dev.keymanager.kms.pkcs11;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.keymanager.KeyManagerConfigException;
import java.io.ByteArrayOutputStream;
import java.net.URI;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The token and key object a {@code pkcs11} CMK URI names, after RFC 7512: {@code
 * pkcs11:token=TOKEN-LABEL;object=OBJECT-LABEL}, optionally with {@code type=secret-key}.
 *
 * <p>Values are percent-decoded as RFC 7512 says (so a label may hold {@code ;} as {@code %3B}).
 * The attributes that would put the library, slot or PIN into the URI ({@code module-name}, {@code
 * module-path}, {@code slot-id}, {@code pin-value}, {@code pin-source}, ...) are refused: those
 * come from the provider's configuration, so a URI stored beside data never carries a secret and
 * always means the same key wherever the HSM is mounted. {@code id} (CKA_ID) is refused too:
 * SunPKCS11 finds secret keys by label only, so an id could not be checked.
 *
 * @param token the token label ({@code CKA_LABEL} of the token, at most 32 UTF-8 bytes)
 * @param object the key object's label ({@code CKA_LABEL})
 */
record Pkcs11Uri(String token, String object) {
  static final String EXPECTED_FORM =
      "expected pkcs11:token=TOKEN-LABEL;object=KEY-LABEL (RFC 7512; optionally ;type=secret-key),"
          + " with no library, slot, id or PIN attribute: those come from the provider's"
          + " configuration";

  /** The longest token label PKCS#11 allows (CK_TOKEN_INFO.label is 32 bytes). */
  static final int MAX_TOKEN_LABEL = 32;

  /** The longest object label accepted; also what the wrapped format's 16-bit length allows. */
  static final int MAX_OBJECT_LABEL = 255;

  static Pkcs11Uri parse(URI uri) {
    if (!Pkcs11KmsProvider.SCHEME.equalsIgnoreCase(uri.getScheme())
        || !uri.isOpaque()
        || uri.getRawFragment() != null) {
      throw malformed(uri, "not an opaque pkcs11: URI");
    }
    String ssp = uri.getRawSchemeSpecificPart();
    if (ssp.indexOf('?') >= 0) {
      throw malformed(uri, "query attributes (such as pin-value or module-path) are not accepted");
    }
    Map<String, String> attributes = new LinkedHashMap<>();
    for (String part : ssp.split(";", -1)) {
      int eq = part.indexOf('=');
      if (eq <= 0) {
        throw malformed(uri, "'" + part + "' is not NAME=VALUE");
      }
      String name = part.substring(0, eq);
      String value = decode(uri, part.substring(eq + 1));
      if (attributes.put(name, value) != null) {
        throw malformed(uri, "attribute '" + name + "' appears twice");
      }
    }
    String token = attributes.remove("token");
    String object = attributes.remove("object");
    String type = attributes.remove("type");
    if (!attributes.isEmpty()) {
      throw malformed(uri, "attributes " + attributes.keySet() + " are not accepted");
    }
    if (type != null && !type.equals("secret-key")) {
      throw malformed(uri, "type must be secret-key, not '" + type + "'");
    }
    if (token == null || token.isEmpty() || token.getBytes(UTF_8).length > MAX_TOKEN_LABEL) {
      throw malformed(uri, "token must be a label of 1 to " + MAX_TOKEN_LABEL + " UTF-8 bytes");
    }
    if (object == null || object.isEmpty() || object.getBytes(UTF_8).length > MAX_OBJECT_LABEL) {
      throw malformed(uri, "object must be a label of 1 to " + MAX_OBJECT_LABEL + " UTF-8 bytes");
    }
    return new Pkcs11Uri(token, object);
  }

  /** RFC 3986 percent-decoding of one attribute value, as RFC 7512 section 2.3 asks. */
  private static String decode(URI uri, String raw) {
    ByteArrayOutputStream out = new ByteArrayOutputStream(raw.length());
    for (int i = 0; i < raw.length(); i++) {
      char c = raw.charAt(i);
      if (c == '%') {
        if (i + 2 >= raw.length()) {
          throw malformed(uri, "truncated percent-encoding");
        }
        int hi = Character.digit(raw.charAt(i + 1), 16);
        int lo = Character.digit(raw.charAt(i + 2), 16);
        if (hi < 0 || lo < 0) {
          throw malformed(uri, "bad percent-encoding");
        }
        out.write(hi << 4 | lo);
        i += 2;
      } else {
        out.writeBytes(String.valueOf(c).getBytes(UTF_8));
      }
    }
    return out.toString(UTF_8);
  }

  private static KeyManagerConfigException malformed(URI uri, String why) {
    return new KeyManagerConfigException(
        "Malformed pkcs11 CMK URI '" + redacted(uri) + "': " + why + "; " + EXPECTED_FORM);
  }

  /** The URI with the value of any {@code pin-value} attribute replaced, for messages. */
  private static String redacted(URI uri) {
    return PIN_VALUE.matcher(uri.toString()).replaceAll("$1REDACTED");
  }

  private static final Pattern PIN_VALUE = Pattern.compile("((?i:pin-value)=)[^;?&#]*");
}
