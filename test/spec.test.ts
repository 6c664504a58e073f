/**
 * Every message of the specification (proto/) survives binary encoding: a message with every
 * field set decodes to an equal message.
 */
import { create, equals, fromBinary, toBinary, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { ScalarType } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { file_meowonion_v1_consensus } from "../gen/meowonion/v1/consensus_pb.js";
import { file_meowonion_v1_control } from "../gen/meowonion/v1/control_pb.js";
import { file_meowonion_v1_descriptor } from "../gen/meowonion/v1/descriptor_pb.js";
import { file_meowonion_v1_directory } from "../gen/meowonion/v1/directory_pb.js";
import { file_meowonion_v1_link } from "../gen/meowonion/v1/link_pb.js";
import { file_meowonion_v1_relay } from "../gen/meowonion/v1/relay_pb.js";

const specFiles = [
  file_meowonion_v1_link,
  file_meowonion_v1_relay,
  file_meowonion_v1_descriptor,
  file_meowonion_v1_consensus,
  file_meowonion_v1_directory,
  file_meowonion_v1_control,
];

function scalarSample(type: ScalarType): unknown {
  switch (type) {
    case ScalarType.STRING:
      return "meow-🐈";
    case ScalarType.BYTES:
      return new Uint8Array([0, 1, 2, 254, 255]);
    case ScalarType.BOOL:
      return true;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return 1.5;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return -1234567890123n;
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return 18446744073709551615n;
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return -42;
    default:
      return 4294967295;
  }
}

function fieldSample(field: DescField, depth: number): unknown {
  switch (field.fieldKind) {
    case "scalar":
      return scalarSample(field.scalar);
    case "enum":
      return field.enum.values[field.enum.values.length - 1].number;
    case "message":
      return filledMessage(field.message, depth + 1);
    case "list":
      if (field.listKind === "scalar") return [scalarSample(field.scalar), scalarSample(field.scalar)];
      if (field.listKind === "enum") return field.enum.values.slice(1).map((v) => v.number);
      return [filledMessage(field.message, depth + 1), filledMessage(field.message, depth + 1)];
    case "map":
      return {};
  }
}

function filledMessage(desc: DescMessage, depth = 0): unknown {
  const init: Record<string, unknown> = {};
  if (depth > 3) return create(desc);
  for (const field of desc.fields) {
    if (field.oneof !== undefined) continue;
    init[field.localName] = fieldSample(field, depth);
  }
  for (const oneof of desc.oneofs) {
    const first = oneof.fields[0];
    init[oneof.localName] = { case: first.localName, value: fieldSample(first, depth) };
  }
  return create(desc, init as never);
}

describe("specification messages", () => {
  const messages = specFiles.flatMap((file) => file.messages.flatMap(function all(m): DescMessage[] {
    return [m, ...m.nestedMessages.flatMap(all)];
  }));

  it("covers every file of the spec", () => {
    expect(messages.length).toBeGreaterThan(60);
  });

  for (const desc of messages) {
    it(`${desc.typeName} round-trips through binary encoding`, () => {
      const message = filledMessage(desc) as never;
      const bytes = toBinary(desc, message);
      if (desc.fields.length > 0) expect(bytes.length).toBeGreaterThan(0);
      const decoded = fromBinary(desc, bytes);
      expect(equals(desc, decoded, message)).toBe(true);
      expect(toBinary(desc, decoded)).toEqual(bytes);
    });
  }
});
