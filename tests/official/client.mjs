// Drives @kintone/rest-api-client against KINTONE_BASE_URL with KINTONE_API_TOKEN.
//
//   node client.mjs ACTION  < args.json
//
// ACTION is one of the cases below; its JSON arguments are read from stdin (large record lists
// would not fit on a command line). The result is printed to stdout as JSON. On failure the
// error's JSON-able fields are printed as {"error": {...}} and the exit code is 1.
import { KintoneRestAPIClient } from "@kintone/rest-api-client";

const readStdin = async () => {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString("utf8").trim();
  return text ? JSON.parse(text) : {};
};

const describeError = (e) => {
  // KintoneAllRecordsError wraps a KintoneRestAPIError in `.error`.
  const inner = e && e.error && typeof e.error === "object" ? e.error : e;
  return {
    name: e?.name,
    message: e?.message,
    code: inner?.code,
    id: inner?.id,
    status: inner?.status,
    errors: inner?.errors,
    bulkRequestIndex: inner?.bulkRequestIndex,
    errorIndex: e?.errorIndex,
    numOfProcessedRecords: e?.numOfProcessedRecords,
    numOfAllRecords: e?.numOfAllRecords,
    innerName: inner?.name,
    innerMessage: inner?.message,
  };
};

const main = async () => {
  const action = process.argv[2];
  const args = await readStdin();
  const client = new KintoneRestAPIClient({
    baseUrl: process.env.KINTONE_BASE_URL,
    auth: { apiToken: process.env.KINTONE_API_TOKEN },
  });
  const app = args.app ?? process.env.KINTONE_APP ?? 1;
  const optional = (keys) =>
    Object.fromEntries(keys.filter((k) => args[k] !== undefined).map((k) => [k, args[k]]));

  switch (action) {
    case "addAllRecords":
      return client.record.addAllRecords({ app, records: args.records });
    case "updateAllRecords":
      return client.record.updateAllRecords({ app, records: args.records, ...optional(["upsert"]) });
    case "getAllRecords":
      return client.record.getAllRecords({
        app,
        ...optional(["fields", "condition", "orderBy", "withCursor"]),
      });
    case "getAllRecordsWithCursor":
      return client.record.getAllRecordsWithCursor({ app, ...optional(["fields", "query"]) });
    case "deleteAllRecords":
      return client.record.deleteAllRecords({ app, records: args.records });
    case "getFormFields":
      return client.app.getFormFields({ app });
    default:
      throw new Error(`unknown action: ${action}`);
  }
};

main().then(
  (result) => {
    process.stdout.write(JSON.stringify(result ?? null));
  },
  (e) => {
    process.stdout.write(JSON.stringify({ error: describeError(e) }));
    process.stderr.write(`${e?.stack ?? e}\n`);
    process.exitCode = 1;
  },
);
