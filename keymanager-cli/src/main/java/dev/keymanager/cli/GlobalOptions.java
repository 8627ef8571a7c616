package dev.keymanager.cli;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options every command that touches keys takes (a picocli mixin). */
final class GlobalOptions {
  @Option(
      names = "--config",
      paramLabel = "FILE",
      description = "Properties file: store, store.user, store.password, jdbc.schema, ...")
  Path config;

  @Option(
      names = "--store",
      paramLabel = "URI",
      description = "KEK store: file:/path/to/dir or jdbc:postgresql://host:port/db")
  String store;

  @Option(names = "--json", description = "Print data as JSON on stdout.")
  boolean json;

  @Option(
      names = "--allow-development-kms",
      description = "Accept the development KMS schemes local-kms:// and fake-kms://.")
  boolean allowDevelopmentKms;

  @Option(
      names = {"-v", "--verbose"},
      description = "More log lines on stderr (-v info, -vv debug, -vvv trace).")
  boolean[] verbose = new boolean[0];
}
