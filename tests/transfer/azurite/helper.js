// Test-only helper: sets up Azurite for tests/transfer with Microsoft's own
// client (@azure/storage-blob), so the test needs no hand-signed requests.
//   node helper.js create CONTAINER
//   node helper.js upload CONTAINER KEY FILE
// Environment: AZ_URL (http://127.0.0.1:PORT/ACCOUNT), AZ_ACCOUNT, AZ_KEY.
const { BlobServiceClient, StorageSharedKeyCredential } = require("@azure/storage-blob");

const svc = new BlobServiceClient(
  process.env.AZ_URL,
  new StorageSharedKeyCredential(process.env.AZ_ACCOUNT, process.env.AZ_KEY),
);
const [cmd, container, key, file] = process.argv.slice(2);
const c = svc.getContainerClient(container);
const job = cmd === "create" ? c.create() : c.getBlockBlobClient(key).uploadFile(file);
job.then(
  () => process.exit(0),
  (e) => {
    console.error(`${cmd}: ${e.message}`);
    process.exit(1);
  },
);
