import { configJsonSchema } from "../config/json-schema.js";
import type { CommandContext } from "./context.js";

export async function configSchemaCommand(ctx: CommandContext): Promise<void> {
  // Always JSON: it is the command's only output (with --json, that one document).
  const schema = configJsonSchema();
  ctx.print(schema, JSON.stringify(schema, null, 2));
}
