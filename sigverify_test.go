package authkit

import (
	"crypto/ecdsa"
	"crypto/rand"
	"math/big"
	"testing"
)

// TestECDSAVerifyAsStdlib: the kit's ECDSA check (the DER form of r||s
// built on the stack, for ecdsa.VerifyASN1) answers as ecdsa.Verify does
// from big.Ints, on every curve: fresh signatures and their (r, n-s) twins,
// signatures whose r or s starts with a zero byte or has its high bit set,
// and r or s zero, n, n+1 or with a bit flipped.
func TestECDSAVerifyAsStdlib(t *testing.T) {
	k := testKeys()
	in := []byte(signingInputOf(baseToken()))
	for _, priv := range []*ecdsa.PrivateKey{k.ec256, k.ec384, k.ec521} {
		pub := &priv.PublicKey
		name := pub.Curve.Params().Name
		vk, err := newVerifyKey("k1", "", pub)
		if err != nil {
			t.Fatal(err)
		}
		size := (pub.Curve.Params().BitSize + 7) / 8
		n := pub.Curve.Params().N
		digest := hashFor(ecHash(pub), in)
		check := func(what string, sig []byte) {
			t.Helper()
			r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
			want := ecdsa.Verify(pub, digest, r, s)
			if got := vk.verify(in, sig) == nil; got != want {
				t.Errorf("%s %s (r %x, s %x): kit %v, ecdsa.Verify %v", name, what, r, s, got, want)
			}
		}
		var zeroR, zeroS, highR bool
		for i := 0; i < 3000 && (i < 50 || !zeroR || !zeroS || !highR && size != 66); i++ {
			r, s, err := ecdsa.Sign(rand.Reader, priv, digest)
			if err != nil {
				t.Fatal(err)
			}
			sig := packRS(pub.Curve, r, s)
			zeroR, zeroS, highR = zeroR || sig[0] == 0, zeroS || sig[size] == 0, highR || sig[0]&0x80 != 0
			if i >= 50 && !(sig[0] == 0 || sig[size] == 0 || sig[0]&0x80 != 0) {
				continue // only the signatures of interest past the first 50
			}
			check("signature", sig)
			check("twin", packRS(pub.Curve, r, new(big.Int).Sub(n, s)))
			for _, m := range []struct {
				what string
				r, s *big.Int
			}{
				{"r=0", big.NewInt(0), s}, {"s=0", r, big.NewInt(0)},
				{"r=n", n, s}, {"s=n", r, n},
				{"r=n+1", new(big.Int).Add(n, big.NewInt(1)), s},
				{"r bit flipped", new(big.Int).Xor(r, big.NewInt(1<<7)), s},
				{"s bit flipped", r, new(big.Int).Xor(s, big.NewInt(1))},
			} {
				if m.r.BitLen() <= 8*size && m.s.BitLen() <= 8*size {
					check(m.what, packRS(pub.Curve, m.r, m.s))
				}
			}
		}
		if !zeroR || !zeroS || !highR && size != 66 {
			t.Errorf("%s: no signature with r or s starting with a zero byte, or r with its high bit", name)
		}
		all := make([]byte, 2*size)
		for i := range all {
			all[i] = 0xff
		}
		check("all 0xff", all)
	}
}
