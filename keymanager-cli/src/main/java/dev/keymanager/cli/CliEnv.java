package dev.keymanager.cli;

import dev.keymanager.spi.KmsProvider;
import java.io.InputStream;
import java.util.List;
import java.util.Map;

/**
 * What a run of the tool is given from outside: standard input, the environment, whether stderr is
 * a terminal, and KMS providers passed in (tests pass FakeKms here; the jar passes none).
 */
record CliEnv(
    InputStream in,
    Map<String, String> variables,
    boolean terminal,
    List<KmsProvider> providers,
    ClassLoader classLoader) {
  CliEnv {
    variables = Map.copyOf(variables);
    providers = List.copyOf(providers);
  }

  static CliEnv system() {
    ClassLoader cl = Thread.currentThread().getContextClassLoader();
    return new CliEnv(
        System.in,
        System.getenv(),
        System.console() != null,
        List.of(),
        cl != null ? cl : CliEnv.class.getClassLoader());
  }
}
