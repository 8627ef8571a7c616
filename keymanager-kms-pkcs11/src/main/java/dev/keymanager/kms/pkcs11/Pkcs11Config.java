package dev.keymanager.kms.pkcs11;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.keymanager.KeyManagerConfigException;
import java.io.IOException;
import java.io.Reader;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Arrays;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Reads a provider's configuration file (a {@link Properties} file): {@code library}, {@code
 * maxSessions}, {@code sessionTimeout} (ISO-8601, {@code PT5S}), and per token {@code
 * token.LABEL.slot} with either {@code token.LABEL.pin.file} (a file holding the PIN; one trailing
 * line break is ignored) or {@code token.LABEL.pin.env} (the name of an environment variable
 * holding it). A PIN written into the configuration file itself is not accepted.
 */
final class Pkcs11Config {
  private Pkcs11Config() {}

  static Pkcs11KmsProvider.Builder read(Path file) {
    Properties p = new Properties();
    try (Reader r = Files.newBufferedReader(file, UTF_8)) {
      p.load(r);
    } catch (IOException | IllegalArgumentException e) {
      throw bad(file, "cannot be read (" + e.getClass().getSimpleName() + ")", e);
    }
    Pkcs11KmsProvider.Builder b = Pkcs11KmsProvider.builder();
    Map<String, Map<String, String>> tokens = new TreeMap<>();
    for (String key : new TreeSet<>(p.stringPropertyNames())) {
      String value = p.getProperty(key).trim();
      try {
        switch (key) {
          case "library" -> b.library(Path.of(value));
          case "maxSessions" -> b.maxSessions(Integer.parseInt(value));
          case "sessionTimeout" -> b.sessionTimeout(Duration.parse(value));
          default -> {
            String suffix = suffix(key);
            if (!key.startsWith("token.") || suffix == null) {
              throw bad(file, "unknown key '" + key + "'", null);
            }
            String label = key.substring("token.".length(), key.length() - suffix.length() - 1);
            if (label.isEmpty()) {
              throw bad(file, "key '" + key + "' names no token label", null);
            }
            tokens.computeIfAbsent(label, l -> new TreeMap<>()).put(suffix, value);
          }
        }
      } catch (NumberFormatException | DateTimeParseException e) {
        throw bad(file, "'" + key + "' has a malformed value", e);
      } catch (IllegalArgumentException e) {
        throw bad(file, "'" + key + "': " + e.getMessage(), e);
      }
    }
    if (tokens.isEmpty()) {
      throw bad(file, "configures no token (token.LABEL.slot)", null);
    }
    for (Map.Entry<String, Map<String, String>> t : tokens.entrySet()) {
      String label = t.getKey();
      Map<String, String> v = t.getValue();
      if (!v.containsKey("slot")) {
        throw bad(file, "token '" + label + "' has no token." + label + ".slot", null);
      }
      if (v.containsKey("pin.file") == v.containsKey("pin.env")) {
        throw bad(
            file,
            "token '" + label + "' needs exactly one of token." + label + ".pin.file / .pin.env",
            null);
      }
      long slot;
      try {
        slot = Long.parseLong(v.get("slot"));
      } catch (NumberFormatException e) {
        throw bad(file, "token." + label + ".slot is not a number", e);
      }
      char[] pin =
          v.containsKey("pin.file")
              ? pinFromFile(file, label, Path.of(v.get("pin.file")))
              : pinFromEnv(file, label, v.get("pin.env"));
      try {
        b.token(label, slot, pin);
      } catch (IllegalArgumentException e) {
        throw bad(file, e.getMessage(), e);
      } finally {
        Arrays.fill(pin, '\0');
      }
    }
    return b;
  }

  private static String suffix(String key) {
    for (String s : new String[] {"slot", "pin.file", "pin.env"}) {
      if (key.endsWith("." + s)) {
        return s;
      }
    }
    return null;
  }

  private static char[] pinFromFile(Path config, String label, Path pinFile) {
    byte[] bytes;
    try {
      bytes = Files.readAllBytes(pinFile);
    } catch (IOException e) {
      throw bad(
          config, "the PIN file of token '" + label + "', " + pinFile + ", cannot be read", e);
    }
    try {
      int n = bytes.length;
      if (n > 0 && bytes[n - 1] == '\n') {
        n--;
      }
      if (n > 0 && bytes[n - 1] == '\r') {
        n--;
      }
      CharBuffer chars = UTF_8.decode(ByteBuffer.wrap(bytes, 0, n));
      char[] pin = Arrays.copyOf(chars.array(), chars.limit());
      Arrays.fill(chars.array(), '\0');
      return pin;
    } finally {
      Arrays.fill(bytes, (byte) 0);
    }
  }

  private static char[] pinFromEnv(Path config, String label, String variable) {
    String pin = System.getenv(variable);
    if (pin == null || pin.isEmpty()) {
      throw bad(
          config,
          "the PIN of token '" + label + "' is to come from $" + variable + ", which is not set",
          null);
    }
    return pin.toCharArray();
  }

  private static KeyManagerConfigException bad(Path file, String why, Throwable cause) {
    return new KeyManagerConfigException("pkcs11 configuration file " + file + ": " + why, cause);
  }
}
