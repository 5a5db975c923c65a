fn main() {
    println!("kvm-clone");
}
