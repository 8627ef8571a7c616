package dev.keymanager.parquet;

import dev.keymanager.KeyManager;
import dev.keymanager.core.KeyManagers;
import dev.keymanager.core.store.KekStores;
import dev.keymanager.testkit.FakeKms;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.crypto.KeyAccessDeniedException;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.api.ReadSupport;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;

/**
 * Parquet modular encryption under keymanager KEKs: writes an encrypted dataset (footer and the
 * {@code amount} column under KEK {@code orders}, the {@code email} column under KEK {@code
 * orders-pii}), reads it back, then revokes the PII CMK as a customer would and shows that the
 * {@code email} column stops decrypting while the rest still reads. Re-enabling the CMK brings it
 * back.
 *
 * <p>The KMS is the test kit's in-memory {@code FakeKms}, so that this program can disable a CMK
 * the way a customer does in their own KMS; in production the CMK URIs name the customer's keys
 * ({@code aws-kms://arn:aws:kms:...}). The short hard TTL (2 s) is there so the program does not
 * wait long; it is the revocation bound.
 *
 * <pre>{@code ./mvnw -q -pl keymanager-parquet -am -DskipTests -Pdemo verify}</pre>
 *
 * <p>It runs on a file KEK store under {@code keymanager-parquet/target/parquet-demo} (or the
 * directory given as its argument), so a second run finds its KEKs and dataset directory again.
 */
public final class ParquetRevocationDemo {
  private static final MessageType SCHEMA =
      MessageTypeParser.parseMessageType(
          "message order { required int64 id; required int64 amount; required binary email"
              + " (UTF8); }");
  private static final String WITHOUT_EMAIL =
      "message order { required int64 id; required int64 amount; }";
  private static final Duration HARD_TTL = Duration.ofSeconds(2);

  private ParquetRevocationDemo() {}

  /** What the demo saw, for its test. */
  record Outcome(
      List<String> before,
      boolean emailDeniedAfterRevocation,
      List<String> withoutEmail,
      List<String> afterReenable) {}

  public static void main(String[] args) throws InterruptedException {
    run(Path.of(args.length > 0 ? args[0] : "target/parquet-demo"), System.out);
  }

  static Outcome run(Path home, PrintStream out) throws InterruptedException {
    FakeKms kms = new FakeKms();
    URI ordersCmk = FakeKms.cmk("orders");
    URI piiCmk = FakeKms.cmk("orders-pii");
    try (KeyManager keys =
            KeyManagers.builder()
                .kekStore(KekStores.file(home.resolve("keks")))
                .kmsProvider(kms)
                .discoverProviders(false)
                .hardTtl(HARD_TTL)
                .negativeTtl(Duration.ZERO)
                .build();
        KeyManagerRegistry.Registration registration =
            KeyManagerRegistry.register("orders-app", keys)) {
      for (String kek : List.of("orders", "orders-pii")) {
        if (keys.admin().describeKek(kek).isEmpty()) {
          keys.admin().createKek(kek, kek.equals("orders") ? ordersCmk : piiCmk);
        }
      }

      // What a Spark user sets as spark.hadoop.parquet.* properties.
      Configuration conf = new Configuration();
      KeyManagerKmsClient.configure(conf, registration.name());
      conf.set("parquet.encryption.footer.key", "orders");
      conf.set("parquet.encryption.column.keys", "orders:amount;orders-pii:email");

      Path data = home.resolve("orders");
      for (int f = 0; f < 3; f++) {
        write(data.resolve("part-" + f + ".parquet"), conf, f);
      }
      List<String> before = readAll(data, conf, null);
      out.println("wrote and read " + before.size() + " rows, e.g. " + before.get(0));

      kms.disable(piiCmk);
      out.println("customer disabled " + piiCmk + "; waiting out the hard TTL of " + HARD_TTL);
      Thread.sleep(HARD_TTL.plusMillis(200).toMillis());

      boolean denied = false;
      try {
        readAll(data, conf, null);
      } catch (KeyAccessDeniedException e) {
        denied = true;
      } catch (RuntimeException e) {
        denied = causedByAccessDenied(e);
        if (!denied) {
          throw e;
        }
      }
      out.println("reading the email column: " + (denied ? "access denied" : "still readable!"));
      List<String> withoutEmail = readAll(data, conf, WITHOUT_EMAIL);
      out.println(
          "reading id and amount only: "
              + withoutEmail.size()
              + " rows, e.g. "
              + withoutEmail.get(0));

      kms.enable(piiCmk);
      List<String> after = readAll(data, conf, null);
      out.println("customer re-enabled the CMK: " + after.size() + " rows with email again");
      out.println("key manager stats: " + keys.stats());
      return new Outcome(before, denied, withoutEmail, after);
    }
  }

  private static void write(Path file, Configuration conf, int fileIndex) {
    SimpleGroupFactory rows = new SimpleGroupFactory(SCHEMA);
    try (ParquetWriter<Group> writer =
        ExampleParquetWriter.builder(new org.apache.hadoop.fs.Path(file.toUri()))
            .withConf(conf)
            .withType(SCHEMA)
            .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
            .build()) {
      for (int r = 0; r < 4; r++) {
        long id = fileIndex * 100L + r;
        writer.write(
            rows.newGroup()
                .append("id", id)
                .append("amount", 10 * id + 5)
                .append("email", "customer" + id + "@example.com"));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static List<String> readAll(Path folder, Configuration conf, String projection) {
    Configuration readConf = new Configuration(conf);
    if (projection != null) {
      readConf.set(ReadSupport.PARQUET_READ_SCHEMA, projection);
    }
    List<String> rows = new ArrayList<>();
    for (int f = 0; f < 3; f++) {
      Path file = folder.resolve("part-" + f + ".parquet");
      try (ParquetReader<Group> reader =
          ParquetReader.builder(new GroupReadSupport(), new org.apache.hadoop.fs.Path(file.toUri()))
              .withConf(readConf)
              .build()) {
        for (Group g = reader.read(); g != null; g = reader.read()) {
          String row = g.getLong("id", 0) + " amount=" + g.getLong("amount", 0);
          if (g.getType().containsField("email")) {
            row += " email=" + g.getString("email", 0);
          }
          rows.add(row);
        }
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return rows;
  }

  private static boolean causedByAccessDenied(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof KeyAccessDeniedException) {
        return true;
      }
    }
    return false;
  }
}
