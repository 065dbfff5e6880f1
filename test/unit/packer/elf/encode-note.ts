/** ELF notes for the tests' fixture files: the inverse of packer/elf/notes.ts's parseNotes. */

/** One note as parseNotes reads it: header, NUL-terminated name and payload, each padded to `align`. */
export function encodeNote(name: string, type: number, payload: Uint8Array, align: 4 | 8 = 4): Buffer {
  const aligned = (offset: number) => Math.ceil(offset / align) * align;
  const nameBytes = Buffer.from(`${name}\0`, 'latin1');
  const payloadAt = aligned(12 + nameBytes.length);
  const note = Buffer.alloc(aligned(payloadAt + payload.length));
  note.writeUInt32LE(nameBytes.length, 0);
  note.writeUInt32LE(payload.length, 4);
  note.writeUInt32LE(type, 8);
  nameBytes.copy(note, 12);
  note.set(payload, payloadAt);
  return note;
}
