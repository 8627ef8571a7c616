package dev.keymanager.cli;

import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The effective configuration: flags over the {@code --config} properties file over environment
 * variables ({@code KEYMANAGER_STORE}, {@code KEYMANAGER_STORE_PASSWORD}).
 */
final class Config {
  static final Set<String> KEYS =
      Set.of(
          "store",
          "store.user",
          "store.password",
          "jdbc.schema",
          "allow-development-kms",
          "cache.hard-ttl",
          "cache.load-timeout");

  private static final Pattern SIMPLE_DURATION = Pattern.compile("(\\d+)(ms|s|m|h|d)");

  private final Properties file;
  private final GlobalOptions flags;
  private final Map<String, String> env;

  private Config(Properties file, GlobalOptions flags, Map<String, String> env) {
    this.file = file;
    this.flags = flags;
    this.env = env;
  }

  static Config load(GlobalOptions flags, Map<String, String> env) {
    Properties p = new Properties();
    if (flags.config != null) {
      try (Reader r = Files.newBufferedReader(flags.config, StandardCharsets.UTF_8)) {
        p.load(r);
      } catch (NoSuchFileException e) {
        throw CliException.config("config file not found: " + flags.config);
      } catch (IOException | IllegalArgumentException e) {
        throw CliException.config(
            "cannot read config file " + flags.config + ": " + e.getMessage());
      }
      for (String k : p.stringPropertyNames()) {
        if (!KEYS.contains(k)) {
          throw CliException.config(
              "unknown key '" + k + "' in " + flags.config + "; known: " + KEYS);
        }
      }
    }
    return new Config(p, flags, env);
  }

  String store() {
    if (flags.store != null) {
      return flags.store;
    }
    String s = file.getProperty("store", env.get("KEYMANAGER_STORE"));
    if (s == null || s.isBlank()) {
      throw CliException.config(
          "no KEK store: pass --store file:/path or jdbc:postgresql://..., or set 'store' in"
              + " --config");
    }
    return s.strip();
  }

  Optional<String> get(String key) {
    String v = file.getProperty(key);
    if (v == null && key.equals("store.password")) {
      v = env.get("KEYMANAGER_STORE_PASSWORD");
    }
    return Optional.ofNullable(v).map(String::strip);
  }

  boolean allowDevelopmentKms() {
    return flags.allowDevelopmentKms
        || Boolean.parseBoolean(file.getProperty("allow-development-kms", "false").strip());
  }

  Optional<Duration> duration(String key) {
    return get(key).map(v -> parseDuration(v, key));
  }

  /** {@code 30s}, {@code 5m}, {@code 7d}, {@code 250ms} or ISO-8601 ({@code PT5M}). */
  static Duration parseDuration(String v, String what) {
    Matcher m = SIMPLE_DURATION.matcher(v.strip().toLowerCase(Locale.ROOT));
    try {
      if (m.matches()) {
        long n = Long.parseLong(m.group(1));
        return switch (m.group(2)) {
          case "ms" -> Duration.ofMillis(n);
          case "s" -> Duration.ofSeconds(n);
          case "m" -> Duration.ofMinutes(n);
          case "h" -> Duration.ofHours(n);
          default -> Duration.ofDays(n);
        };
      }
      return Duration.parse(v.strip());
    } catch (DateTimeParseException | NumberFormatException | ArithmeticException e) {
      throw CliException.invalidInput(
          what + ": not a duration: '" + v + "' (examples: 250ms, 30s, 5m, 7d, PT5M)");
    }
  }
}
