package dev.keymanager.parquet;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.example.data.Group;
import org.apache.parquet.example.data.simple.SimpleGroupFactory;
import org.apache.parquet.hadoop.ParquetFileWriter;
import org.apache.parquet.hadoop.ParquetReader;
import org.apache.parquet.hadoop.ParquetWriter;
import org.apache.parquet.hadoop.api.ReadSupport;
import org.apache.parquet.hadoop.example.ExampleParquetWriter;
import org.apache.parquet.hadoop.example.GroupReadSupport;
import org.apache.parquet.hadoop.metadata.CompressionCodecName;
import org.apache.parquet.schema.MessageType;
import org.apache.parquet.schema.MessageTypeParser;

/**
 * Real Parquet files on the local file system, written and read as parquet-hadoop users do: the
 * example Group writer and reader, encryption switched on by the Hadoop configuration alone.
 *
 * <p>Rows have an {@code id} (plaintext), a column {@code a} and a column {@code b}, whose values
 * are distinctive markers so a byte scan can look for them.
 */
final class ParquetFiles {
  static final String FOOTER_KEK = "kek-footer";
  static final String KEK_A = "kek-a";
  static final String KEK_B = "kek-b";

  static final MessageType SCHEMA =
      MessageTypeParser.parseMessageType(
          "message rec { required int64 id; required binary a (UTF8); required binary b (UTF8); }");
  static final String ONLY_A = "message rec { required int64 id; required binary a (UTF8); }";
  static final String ONLY_B = "message rec { required int64 id; required binary b (UTF8); }";

  private ParquetFiles() {}

  /**
   * A configuration as a Spark user sets it ({@code spark.hadoop.} prefixes dropped): Parquet's
   * properties-driven crypto factory, our client, single wrapping, footer key and two column keys.
   */
  static Configuration encryptingConf(String keyManagerName) {
    Configuration conf = new Configuration();
    conf.set(
        "parquet.crypto.factory.class",
        "org.apache.parquet.crypto.keytools.PropertiesDrivenCryptoFactory");
    conf.set("parquet.encryption.kms.client.class", KeyManagerKmsClient.class.getName());
    conf.set("parquet.encryption.kms.instance.id", keyManagerName);
    conf.set("parquet.encryption.double.wrapping", "false");
    conf.set("parquet.encryption.footer.key", FOOTER_KEK);
    conf.set("parquet.encryption.column.keys", KEK_A + ":a;" + KEK_B + ":b");
    return conf;
  }

  static String valueA(int file, int row) {
    return "alpha-secret-" + file + "-" + row;
  }

  static String valueB(int file, int row) {
    return "bravo-secret-" + file + "-" + row;
  }

  static void write(Path file, Configuration conf, int fileIndex, int rows) {
    SimpleGroupFactory groups = new SimpleGroupFactory(SCHEMA);
    try (ParquetWriter<Group> writer =
        ExampleParquetWriter.builder(new org.apache.hadoop.fs.Path(file.toUri()))
            .withConf(conf)
            .withType(SCHEMA)
            .withCompressionCodec(CompressionCodecName.UNCOMPRESSED)
            .withDictionaryEncoding(false)
            .withWriteMode(ParquetFileWriter.Mode.OVERWRITE)
            .build()) {
      for (int r = 0; r < rows; r++) {
        writer.write(
            groups
                .newGroup()
                .append("id", (long) r)
                .append("a", valueA(fileIndex, r))
                .append("b", valueB(fileIndex, r)));
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Every row as {@code id|a|b}, with only the projected columns ({@code null}: all). */
  static List<String> read(Path file, Configuration conf, String projection) {
    Configuration readConf = new Configuration(conf);
    if (projection != null) {
      readConf.set(ReadSupport.PARQUET_READ_SCHEMA, projection);
    }
    List<String> rows = new ArrayList<>();
    try (ParquetReader<Group> reader =
        ParquetReader.builder(new GroupReadSupport(), new org.apache.hadoop.fs.Path(file.toUri()))
            .withConf(readConf)
            .build()) {
      for (Group g = reader.read(); g != null; g = reader.read()) {
        StringBuilder row = new StringBuilder().append(g.getLong("id", 0));
        for (String column : List.of("a", "b")) {
          if (g.getType().containsField(column)) {
            row.append('|').append(g.getString(column, 0));
          }
        }
        rows.add(row.toString());
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return rows;
  }

  /** The rows {@link #read} should return for a file written by {@link #write}, all columns. */
  static List<String> expected(int fileIndex, int rows) {
    List<String> out = new ArrayList<>();
    for (int r = 0; r < rows; r++) {
      out.add(r + "|" + valueA(fileIndex, r) + "|" + valueB(fileIndex, r));
    }
    return out;
  }

  static String uniqueName() {
    return "km-" + UUID.randomUUID();
  }
}
