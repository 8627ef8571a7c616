package dev.keymanager.cli;

import dev.keymanager.KeyContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/** {@code --context key=value}, repeatable: the key context data was encrypted or wrapped with. */
final class ContextOption {
  @Option(
      names = {"-c", "--context"},
      paramLabel = "KEY=VALUE",
      description = "A key-context entry (repeatable); the same entries decrypt as encrypted.")
  List<String> entries = List.of();

  KeyContext context() {
    if (entries.isEmpty()) {
      return KeyContext.empty();
    }
    Map<String, String> map = new LinkedHashMap<>();
    for (String e : entries) {
      int eq = e.indexOf('=');
      if (eq <= 0) {
        throw CliException.invalidInput("--context wants KEY=VALUE, got an entry without '='");
      }
      if (map.put(e.substring(0, eq), e.substring(eq + 1)) != null) {
        throw CliException.invalidInput(
            "--context names the key '" + e.substring(0, eq) + "' twice");
      }
    }
    return KeyContext.of(map);
  }
}
