package dev.keymanager.cli;

import dev.keymanager.core.store.KekStores;
import dev.keymanager.spi.KekStore;
import dev.keymanager.store.jdbc.JdbcKekStore;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.Locale;
import org.postgresql.ds.PGSimpleDataSource;

/** Opens a {@link KekStore} named by a URI-like string. */
final class StoreUris {
  private StoreUris() {}

  /**
   * {@code file:/dir} (or {@code file:///dir}) opens a file store; {@code jdbc:postgresql://...} a
   * JDBC store, with {@code store.user}, {@code store.password} and {@code jdbc.schema} from the
   * configuration.
   */
  static KekStore open(String uri, Config config) {
    String lower = uri.toLowerCase(Locale.ROOT);
    if (lower.startsWith("file:")) {
      return KekStores.file(filePath(uri));
    }
    if (lower.startsWith("jdbc:postgresql:")) {
      PGSimpleDataSource ds = new PGSimpleDataSource();
      try {
        ds.setURL(uri);
      } catch (IllegalArgumentException e) {
        throw CliException.config("malformed JDBC URL for the store: " + e.getMessage());
      }
      config.get("store.user").ifPresent(ds::setUser);
      config.get("store.password").ifPresent(ds::setPassword);
      JdbcKekStore.Builder b = JdbcKekStore.builder().dataSource(ds);
      config.get("jdbc.schema").ifPresent(b::schema);
      return b.build();
    }
    throw CliException.config(
        "unknown store URI '"
            + redact(uri)
            + "': use file:/path/to/dir or jdbc:postgresql://host:port/database");
  }

  private static Path filePath(String uri) {
    try {
      URI u = new URI(uri);
      if (u.getPath() != null && u.getAuthority() == null && u.getPath().startsWith("/")) {
        return Path.of(u.getPath());
      }
      if (u.isOpaque()) {
        return Path.of(u.getSchemeSpecificPart());
      }
      return Path.of(u);
    } catch (URISyntaxException | IllegalArgumentException e) {
      // A path with characters URIs do not allow (spaces): take it literally.
      return Path.of(uri.substring("file:".length()));
    }
  }

  /** A store URI safe to print: any password parameter is masked. */
  static String redact(String uri) {
    return uri.replaceAll("(?i)(password=)[^&;]*", "$1***");
  }
}
