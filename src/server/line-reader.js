'use strict';

// The stdio server's one reader of stdin: newline-delimited messages, each line at most
// MAX_LINE_BYTES. Every byte is scanned once and copied at most once, so a line over the limit
// costs CPU in proportion to its length (the SDK's own buffer copies itself on every chunk and,
// past 10 MiB, ends the session); the rest of that line is skipped as it arrives, never kept.

const MAX_LINE_BYTES = 10 * 1024 * 1024;
const NEWLINE = 0x0a;

/**
 * Reads stdin (any Readable of Buffers) line by line: onLine(text) for each whole line (UTF-8,
 * one trailing \r removed, as the SDK's stdio transport reads it), onOversized() once for each
 * line over maxLineBytes (newline excluded), onEnd() once when the stream ends or closes. A last
 * line without its newline is never a message. stop() stops reading for good (no onEnd after it).
 */
function readLines(stream, { onLine, onOversized, onEnd, maxLineBytes = MAX_LINE_BYTES }) {
  let pieces = [];
  let pendingBytes = 0;
  let skipping = false;

  const keep = (piece) => {
    if (skipping || piece.length === 0) return;
    if (pendingBytes + piece.length > maxLineBytes) {
      pieces = [];
      pendingBytes = 0;
      skipping = true;
      onOversized();
      return;
    }
    pieces.push(piece);
    pendingBytes += piece.length;
  };

  const onData = (chunk) => {
    let start = 0;
    for (let newline = chunk.indexOf(NEWLINE, start); newline !== -1; newline = chunk.indexOf(NEWLINE, start)) {
      keep(chunk.subarray(start, newline));
      start = newline + 1;
      const wasSkipping = skipping;
      const line = pieces.length === 1 ? pieces[0] : Buffer.concat(pieces, pendingBytes);
      pieces = [];
      pendingBytes = 0;
      skipping = false;
      if (!wasSkipping) onLine(line.toString('utf8').replace(/\r$/, ''));
    }
    keep(chunk.subarray(start));
  };

  // A stdin that fails or is destroyed closes without ending: for the session, the same goodbye.
  let ended = false;
  const onClosed = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };
  stream.on('data', onData);
  stream.once('end', onClosed);
  stream.once('close', onClosed);
  return {
    stop() {
      ended = true;
      stream.off('data', onData);
      stream.pause();
    },
  };
}

module.exports = { readLines, MAX_LINE_BYTES };
