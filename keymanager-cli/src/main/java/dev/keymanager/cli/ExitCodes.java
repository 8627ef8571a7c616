package dev.keymanager.cli;

import dev.keymanager.InvalidCiphertextException;
import dev.keymanager.KekStateException;
import dev.keymanager.KekStoreException;
import dev.keymanager.KeyAccessDeniedException;
import dev.keymanager.KeyManagerConfigException;
import dev.keymanager.KmsUnavailableException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.NoSuchFileException;

/**
 * The exit codes of {@code keymanager}, one per failure class (docs/cli.md, "Exit codes"). Scripts
 * branch on them: retry on {@link #UNAVAILABLE}, page a human on {@link #DENIED}.
 */
final class ExitCodes {
  /** Success; for {@code doctor}, every check passed. */
  static final int OK = 0;

  /** A failure the tool did not expect (a bug): the message says what; {@code -v} adds a trace. */
  static final int INTERNAL = 1;

  /**
   * Invalid input: bad flags, a malformed wrapped key or payload, a tampered file, no such file.
   */
  static final int INVALID_INPUT = 2;

  /**
   * Configuration: unknown store URI or KMS scheme, no provider, bad config file, dev KMS refused.
   */
  static final int CONFIG = 3;

  /** The KMS denied access: CMK disabled, deleted or not granted. Not retryable. */
  static final int DENIED = 4;

  /** The KMS or the store is unavailable (timeout, throttling, outage): retry later. */
  static final int UNAVAILABLE = 5;

  /** A KEK's state forbids the call (disabled, destroyed, no such KEK, a racing change). */
  static final int STATE = 6;

  /** The store holds a record that does not parse or does not match: repair the store. */
  static final int STORE_CORRUPT = 7;

  /** A local file could not be read or written (permissions, full disk). */
  static final int IO = 8;

  private ExitCodes() {}

  /** The exit code of a failure. */
  static int of(Throwable t) {
    if (t instanceof CliException c) {
      return c.exitCode();
    }
    if (t instanceof InvalidCiphertextException) {
      return INVALID_INPUT;
    }
    if (t instanceof KeyManagerConfigException) {
      return CONFIG;
    }
    if (t instanceof KeyAccessDeniedException) {
      return DENIED;
    }
    if (t instanceof KmsUnavailableException) {
      return UNAVAILABLE;
    }
    if (t instanceof KekStateException) {
      return STATE;
    }
    if (t instanceof KekStoreException s) {
      return s.isRetryable() ? UNAVAILABLE : STORE_CORRUPT;
    }
    if (t instanceof UncheckedIOException u) {
      return of(u.getCause());
    }
    if (t instanceof NoSuchFileException) {
      return INVALID_INPUT;
    }
    if (t instanceof AccessDeniedException || t instanceof IOException) {
      return IO;
    }
    if (t instanceof IllegalArgumentException) {
      return INVALID_INPUT;
    }
    return INTERNAL;
  }

  /** The name of a failure class, as {@code --json} output and the docs show it. */
  static String name(int code) {
    return switch (code) {
      case OK -> "ok";
      case INVALID_INPUT -> "invalid-input";
      case CONFIG -> "config";
      case DENIED -> "denied";
      case UNAVAILABLE -> "unavailable";
      case STATE -> "state";
      case STORE_CORRUPT -> "store-corrupt";
      case IO -> "io";
      default -> "internal";
    };
  }

  /** A one-line description of a failure: its message, on one line, or its type if it has none. */
  static String describe(Throwable t) {
    Throwable shown = t instanceof UncheckedIOException && t.getCause() != null ? t.getCause() : t;
    String m = shown.getMessage();
    if (shown instanceof NoSuchFileException) {
      m = "no such file: " + m;
    } else if (shown instanceof AccessDeniedException) {
      m = "permission denied: " + m;
    }
    if (m == null || m.isBlank()) {
      m = shown.getClass().getSimpleName();
    }
    return m.replaceAll("\\s*[\\r\\n]+\\s*", " ").strip();
  }
}
