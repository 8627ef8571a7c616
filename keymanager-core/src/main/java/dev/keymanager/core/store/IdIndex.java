package dev.keymanager.core.store;

import static java.nio.file.StandardOpenOption.READ;
import static java.nio.file.StandardOpenOption.WRITE;

import dev.keymanager.KekRef;
import dev.keymanager.spi.KekIdPage;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;
import java.util.zip.CRC32;

/**
 * The file store's list of KEK ids: {@code <directory>/ids}, one line per event, appended under the
 * store lock and never rewritten, so that listing reads one file instead of every KEK's records.
 *
 * <p>Lines are UTF-8: a tag, the CRC-32 (8 hex digits) of the rest of the line, a space, the text.
 * A writer appends {@code +} with the id, forced to the device, before the KEK's first version
 * record is written, and {@code =} with the id after it was renamed into place. An id with a {@code
 * =} line has a version record. An id with only a {@code +} line (a writer crashed between the two
 * lines) may have one: a listing checks its directory and lists it if it does. {@code U} lines name
 * KEK directories that had no readable record when the file was built from a directory of the
 * layout before it ({@link #build}); a line that does not parse is unreadable too. Both are
 * reported with the first page. A line torn by a crash (no newline yet) is never read, and the next
 * writer cuts it off before appending.
 *
 * <p>Each store instance keeps what it read in memory (a sorted map of the ids, about 100 bytes per
 * id) and reads only what was appended since, so a page costs a file size check and a map walk. Ids
 * never leave the file: a store never deletes a KEK.
 */
final class IdIndex {
  static final String FILE = "ids";
  private static final int MAX_LINE = 1 + 8 + 1 + KekRef.MAX_ID_BYTES * 4 + 1;

  /** Whether a record exists for an id that has a {@code =} line (or was found by a check). */
  private enum Seen {
    INTENDED,
    STORED
  }

  private final Path file;
  private final Path directory;
  private final ConcurrentSkipListMap<String, Seen> ids =
      new ConcurrentSkipListMap<>(KekIdPage.ORDER);
  private final List<String> unreadable = new ArrayList<>(); // guarded by this
  private long consumed; // guarded by this: bytes parsed, always at a line end

  IdIndex(Path directory) {
    this.directory = directory;
    this.file = directory.resolve(FILE);
  }

  Path file() {
    return file;
  }

  boolean exists() {
    return Files.exists(file, LinkOption.NOFOLLOW_LINKS);
  }

  /** Creates an empty index for a new, empty store directory. */
  static void createEmpty(DurableFiles files, Path directory) throws IOException {
    files.replace(directory.resolve(FILE), new byte[0]);
  }

  /**
   * Writes the index of a directory of the older layout in one atomic replace: {@code ids} each
   * with a {@code =} line, {@code unreadableDirectories} each with a {@code U} line. Runs under the
   * store lock.
   */
  void build(DurableFiles files, List<String> storedIds, List<String> unreadableDirectories)
      throws IOException {
    StringBuilder text = new StringBuilder();
    for (String id : storedIds) {
      text.append(line('=', id));
    }
    for (String problem : unreadableDirectories) {
      text.append(line('U', problem.replaceAll("\\p{Cntrl}", " ")));
    }
    files.replace(file, text.toString().getBytes(StandardCharsets.UTF_8));
  }

  /** Appends the {@code +} line of {@code id}, forced to the device. Runs under the store lock. */
  void appendIntent(String id) throws IOException {
    append(line('+', id), true);
  }

  /** Appends the {@code =} line of {@code id}. Runs under the store lock. */
  void appendStored(String id) throws IOException {
    // Not forced: if a crash loses it, the + line and the record on disk still list the id.
    append(line('=', id), false);
  }

  private void append(String line, boolean force) throws IOException {
    // Under the store lock no other writer appends, so writing at the end is an append.
    try (FileChannel out = FileChannel.open(file, READ, WRITE)) {
      long end = cutTornTail(out);
      ByteBuffer buffer = ByteBuffer.wrap(line.getBytes(StandardCharsets.UTF_8));
      while (buffer.hasRemaining()) {
        end += out.write(buffer, end);
      }
      if (force) {
        out.force(false);
      }
    }
  }

  /**
   * Cuts a last line without its newline, left by a writer that crashed while appending it.
   *
   * @return the size of the file after the cut
   */
  private static long cutTornTail(FileChannel out) throws IOException {
    long size = out.size();
    if (size == 0) {
      return 0;
    }
    int window = (int) Math.min(size, MAX_LINE);
    ByteBuffer tail = ByteBuffer.allocate(window);
    while (tail.hasRemaining() && out.read(tail, size - window + tail.position()) >= 0) {
      // read the whole window
    }
    if (tail.get(window - 1) == '\n') {
      return size;
    }
    int lastNewline = window - 2;
    while (lastNewline >= 0 && tail.get(lastNewline) != '\n') {
      lastNewline--;
    }
    long cut = size - window + lastNewline + 1;
    out.truncate(cut);
    return cut;
  }

  /**
   * One page of stored ids after {@code after}; the index must exist. An id known only by its
   * {@code +} line is listed if its directory holds a version record ({@code hasRecord}).
   */
  KekIdPage page(String after, int limit, IdCheck hasRecord) throws IOException {
    List<String> problems = refresh();
    List<String> page = new ArrayList<>(Math.min(limit, 1024));
    for (Map.Entry<String, Seen> entry : ids.tailMap(after, false).entrySet()) {
      String id = entry.getKey();
      if (entry.getValue() == Seen.INTENDED) {
        if (!hasRecord.test(id)) {
          continue;
        }
        ids.put(id, Seen.STORED); // records are never deleted
      }
      if (page.size() == limit) {
        return new KekIdPage(page, after.isEmpty() ? problems : List.of(), true);
      }
      page.add(id);
    }
    return new KekIdPage(page, after.isEmpty() ? problems : List.of(), false);
  }

  /** Whether a KEK has a version record. */
  interface IdCheck {
    boolean test(String id) throws IOException;
  }

  /** Reads the lines appended since the last call; returns every unreadable line so far. */
  private synchronized List<String> refresh() throws IOException {
    try (FileChannel in = FileChannel.open(file, READ)) {
      long size = in.size();
      if (size > consumed) {
        ByteBuffer bytes = ByteBuffer.allocate(Math.toIntExact(size - consumed));
        while (bytes.hasRemaining() && in.read(bytes, consumed + bytes.position()) >= 0) {
          // read to the size seen
        }
        byte[] array = bytes.array();
        int start = 0;
        for (int i = 0; i < bytes.position(); i++) {
          if (array[i] == '\n') {
            parse(new String(array, start, i - start, StandardCharsets.UTF_8), consumed + start);
            start = i + 1;
          }
        }
        consumed += start; // a torn or half-written last line waits for its newline
      }
    }
    return List.copyOf(unreadable);
  }

  private void parse(String line, long offset) {
    String problem = null;
    if (line.length() < 10 || line.charAt(9) != ' ') {
      problem = "malformed";
    } else {
      String text = line.substring(10);
      if (!line.substring(1, 9).equals(crc(line.charAt(0), text))) {
        problem = "checksum mismatch";
      } else {
        switch (line.charAt(0)) {
          case '+' -> {
            if (validId(text)) {
              ids.putIfAbsent(text, Seen.INTENDED);
            } else {
              problem = "invalid KEK id";
            }
          }
          case '=' -> {
            if (validId(text)) {
              ids.put(text, Seen.STORED);
            } else {
              problem = "invalid KEK id";
            }
          }
          case 'U' -> unreadable.add(text);
          default -> problem = "unknown tag";
        }
      }
    }
    if (problem != null) {
      unreadable.add(
          "KEK id index " + file + ": unreadable line at byte " + offset + " (" + problem + ")");
    }
  }

  private static boolean validId(String text) {
    try {
      KekRef.checkId(text);
      return true;
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  /** One line as the index holds it. */
  static String line(char tag, String text) {
    return tag + crc(tag, text) + " " + text + "\n";
  }

  private static String crc(char tag, String text) {
    CRC32 crc = new CRC32();
    crc.update(tag);
    crc.update(text.getBytes(StandardCharsets.UTF_8));
    return HexFormat.of().toHexDigits((int) crc.getValue());
  }

  @Override
  public String toString() {
    return "IdIndex[" + directory + "]";
  }
}
