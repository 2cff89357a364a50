-- libcrypto through the FFI: HMAC-SHA256 for the bearer tokens we issue, RS256
-- verification and x5t thumbprints for client assertions, and random bytes.
-- nginx is linked against libcrypto, so its symbols are already in ffi.C.

local ffi = require "ffi"
local C = ffi.C

local _M = { _VERSION = "0.1.0" }

ffi.cdef [[
typedef struct evp_md_st EVP_MD;
typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct engine_st ENGINE;
typedef struct bio_st BIO;
typedef struct x509_st X509;

const EVP_MD *EVP_sha256(void);
const EVP_MD *EVP_sha1(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
int RAND_bytes(unsigned char *buf, int num);

BIO *BIO_new_mem_buf(const void *buf, int len);
int BIO_free(BIO *a);
X509 *PEM_read_bio_X509(BIO *bp, X509 **x, void *cb, void *u);
void X509_free(X509 *a);
int X509_digest(const X509 *data, const EVP_MD *type, unsigned char *md,
                unsigned int *len);
EVP_PKEY *X509_get_pubkey(X509 *x);
void EVP_PKEY_free(EVP_PKEY *pkey);
int EVP_PKEY_get_base_id(const EVP_PKEY *pkey);

EVP_MD_CTX *EVP_MD_CTX_new(void);
void EVP_MD_CTX_free(EVP_MD_CTX *ctx);
int EVP_DigestVerifyInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx,
                         const EVP_MD *type, ENGINE *e, EVP_PKEY *pkey);
int EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sig, size_t siglen,
                     const unsigned char *tbs, size_t tbslen);
void ERR_clear_error(void);
]]

local EVP_PKEY_RSA = 6

-- syntax: s = crypto.random_bytes(n)
function _M.random_bytes(n)
  local buf = ffi.new("unsigned char[?]", n)
  if C.RAND_bytes(buf, n) ~= 1 then
    error("RAND_bytes failed")
  end
  return ffi.string(buf, n)
end

-- syntax: mac = crypto.hmac_sha256(key, data)   (raw 32 bytes)
function _M.hmac_sha256(key, data)
  local md = ffi.new("unsigned char[64]")
  local len = ffi.new("unsigned int[1]")
  if C.HMAC(C.EVP_sha256(), key, #key, data, #data, md, len) == nil then
    error("HMAC failed")
  end
  return ffi.string(md, len[0])
end

local function read_x509(pem)
  C.ERR_clear_error()
  local bio = C.BIO_new_mem_buf(pem, #pem)
  if bio == nil then return nil end
  local x509 = C.PEM_read_bio_X509(bio, nil, nil, nil)
  C.BIO_free(bio)
  if x509 == nil then
    C.ERR_clear_error()
    return nil
  end
  return ffi.gc(x509, C.X509_free)
end

-- syntax: info, err = crypto.load_certificate(pem)
-- info = { pem = pem, sha1 = raw SHA-1 of the DER (x5t before base64url) }
function _M.load_certificate(pem)
  if type(pem) ~= "string" then return nil, "certificate_pem must be a string" end
  local x509 = read_x509(pem)
  if not x509 then return nil, "certificate_pem is not a PEM X.509 certificate" end
  local pkey = C.X509_get_pubkey(x509)
  if pkey == nil then return nil, "certificate has no usable public key" end
  local is_rsa = C.EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA
  C.EVP_PKEY_free(pkey)
  if not is_rsa then return nil, "certificate key is not RSA (RS256 needs RSA)" end
  local md = ffi.new("unsigned char[64]")
  local len = ffi.new("unsigned int[1]")
  if C.X509_digest(x509, C.EVP_sha1(), md, len) ~= 1 then
    return nil, "cannot compute the certificate thumbprint"
  end
  return { pem = pem, sha1 = ffi.string(md, len[0]) }
end

-- syntax: ok = crypto.verify_rs256(pem, signing_input, signature)
function _M.verify_rs256(pem, input, sig)
  local x509 = read_x509(pem)
  if not x509 then return false end
  local pkey = C.X509_get_pubkey(x509)
  if pkey == nil then return false end
  pkey = ffi.gc(pkey, C.EVP_PKEY_free)
  local ctx = C.EVP_MD_CTX_new()
  if ctx == nil then return false end
  ctx = ffi.gc(ctx, C.EVP_MD_CTX_free)
  C.ERR_clear_error()
  local ok = C.EVP_DigestVerifyInit(ctx, nil, C.EVP_sha256(), nil, pkey) == 1
    and C.EVP_DigestVerify(ctx, sig, #sig, input, #input) == 1
  C.ERR_clear_error()
  return ok
end

return _M
