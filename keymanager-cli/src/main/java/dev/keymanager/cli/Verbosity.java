package dev.keymanager.cli;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import org.slf4j.LoggerFactory;

/** Sets the log level of the library's loggers from {@code -v} flags. */
final class Verbosity {
  private static volatile int level;

  private Verbosity() {}

  static void set(int v) {
    level = v;
    if (LoggerFactory.getILoggerFactory() instanceof ch.qos.logback.classic.LoggerContext ctx) {
      Logger root = ctx.getLogger(org.slf4j.Logger.ROOT_LOGGER_NAME);
      if (v > 0 || root.getLevel() == null || root.getLevel().isGreaterOrEqual(Level.WARN)) {
        root.setLevel(
            switch (Math.min(v, 3)) {
              case 0 -> Level.WARN;
              case 1 -> Level.INFO;
              case 2 -> Level.DEBUG;
              default -> Level.TRACE;
            });
      }
    }
  }

  static int level() {
    return level;
  }
}
