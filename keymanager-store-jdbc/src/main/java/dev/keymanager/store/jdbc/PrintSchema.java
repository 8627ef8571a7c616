package dev.keymanager.store.jdbc;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;

/**
 * Prints the DDL of a {@link JdbcKekStore} for DBAs who apply schema changes themselves:
 *
 * <pre>{@code
 * java -cp keymanager-store-jdbc.jar:keymanager-api.jar \
 *     dev.keymanager.store.jdbc.PrintSchema [schema [table]] > keymanager.sql
 * }</pre>
 *
 * <p>The same text as {@link JdbcKekStore.Builder#schemaDdl()}; the defaults are {@value
 * JdbcKekStore.Builder#DEFAULT_SCHEMA} and {@value JdbcKekStore.Builder#DEFAULT_TABLE}. Build the
 * store with {@link SchemaMode#VALIDATE} once it is applied.
 */
public final class PrintSchema {
  private PrintSchema() {}

  /** Prints the DDL to standard output; a bad name prints the reason and exits with status 2. */
  public static void main(String[] args) {
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    try {
      out.print(ddl(args));
    } catch (IllegalArgumentException e) {
      System.err.println(e.getMessage());
      System.err.println("usage: PrintSchema [schema [table]]");
      System.exit(2);
    }
  }

  /** The DDL for {@code [schema [table]]}. */
  static String ddl(String... args) {
    if (args.length > 2) {
      throw new IllegalArgumentException("at most two arguments: schema and table");
    }
    JdbcKekStore.Builder builder = JdbcKekStore.builder();
    if (args.length > 0) {
      builder.schema(args[0]);
    }
    if (args.length > 1) {
      builder.table(args[1]);
    }
    return builder.schemaDdl();
  }
}
